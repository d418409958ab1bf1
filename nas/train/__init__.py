"""The training app: ``python -m nas.train arch=<arch file> | model=<baseline> data=...`` (Hydra).

Trains a found architecture or a baseline with the standard recipe of :mod:`nas.loops` and writes
``result.json`` (final / best accuracy, params, MACs, batch-1 latency on the device), ``checkpoint.pt``
(``resume=<run dir>``), ``weights.pt`` and TensorBoard logs; see ``nas.train.run`` and docs/training.md.
"""
