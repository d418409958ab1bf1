"""Optuna studies as the shared state of search workers: opening a storage (an RDB URL or a journal
file), and seeing which archs other workers are evaluating (RUNNING trials)."""

from __future__ import annotations

import time
from typing import Any, List, Optional

from nas.strategies.base import StrategyError


def open_storage(spec: Any) -> Any:
    """The Optuna storage ``spec`` names: an RDB URL (a string with ``://``) as it is (Optuna opens it),
    ``journal:<path>`` or any other string a journal file (created if missing; its directory must exist),
    None or a storage object unchanged."""
    if not isinstance(spec, str) or "://" in spec:
        return spec
    import os

    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = spec[len("journal:"):] if spec.startswith("journal:") else spec
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StrategyError(f"storage={spec}", "storage", f"a journal file in an existing directory ({folder} is "
                            "not one), or an RDB URL such as sqlite:///study.db")
    return JournalStorage(JournalFileBackend(path))


def complete_params(trial: Any, labels: List[str]) -> bool:
    return all(label in trial.params for label in labels)


def running_clash(study: Any, trial: Any) -> Optional[int]:
    """The number of another RUNNING trial with ``trial``'s (complete) params, if any."""
    import optuna

    params = dict(trial.params)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.number != trial.number and t.params == params:
            return t.number
    return None


def wait_while_running(study: Any, number: int, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Wait until trial ``number`` is no longer RUNNING (True), at most ``timeout_s`` seconds (False)."""
    import optuna

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if all(t.number != number for t in running):
            return True
        time.sleep(poll_s)
    return False
