"""``hydra/sweeper=nas_optuna``: a Hydra sweeper on the project's own Optuna (see ``sweeper.py``, docs/sweeps.md).

Lives in the ``hydra_plugins`` namespace package (no ``hydra_plugins/__init__.py``), where Hydra looks
for plugins; importing it registers the config (``config.py``).
"""

from . import config  # noqa: F401  (registers hydra/sweeper=nas_optuna in the ConfigStore)
