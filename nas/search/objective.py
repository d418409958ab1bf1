"""The figure(s) a search job returns to a Hydra sweeper, read from its summary (``summary.json``).

A key is a dotted path into the summary: ``final.val_acc_shared_weights`` (FBNet's default),
``best.reward`` (the controllers' default), ``final.predicted_ms``, ``best.latency_ms``, ... A list
of keys gives one value per key (a multi-objective sweep, ``hydra.sweeper.direction=[...]``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from nas.errors import NasError

SOURCE = "hydra.sweeper.objective"
DEFAULT_KEYS = {"fbnet": "final.val_acc_shared_weights", "controller": "best.reward"}
# the numeric figures a summary holds (shared facts of nas.search.run); measured_ms needs latency.measure
KNOWN_KEYS = {
    "fbnet": ("final.val_acc_shared_weights", "final.predicted_ms", "final.measured_ms", "final.params_m",
              "final.macs_m", "seconds"),
    "controller": ("best.reward", "best.accuracy", "best.latency_ms", "best.measured_ms", "best.params_m",
                   "best.macs_m", "target_ms", "evaluations", "seconds"),
}
Spec = Union[None, str, Sequence[str]]


class ObjectiveError(NasError):
    """An objective key the search's summary does not have (or that is not a number)."""


def _kind(method: str) -> str:
    return "fbnet" if method == "fbnet" else "controller"


def _keys(spec: Spec) -> Optional[List[str]]:
    if spec is None or isinstance(spec, str):
        return None
    return [str(k) for k in spec]


def check_spec(method: str, spec: Spec) -> None:
    """Fail before a search runs when ``spec`` names a figure a ``method`` search never reports."""
    known = KNOWN_KEYS[_kind(method)]
    for key in _keys(spec) or ([] if spec is None else [spec]):
        if key not in known:
            raise ObjectiveError(SOURCE, key, f"a figure of a method={method} summary: {', '.join(known)}")


_MISSING = object()


def _lookup(summary: Dict[str, Any], key: str) -> Any:
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def objective(summary: Dict[str, Any], key: Optional[str] = None) -> float:
    """The number at dotted ``key`` of ``summary`` (default: the method's, see ``DEFAULT_KEYS``)."""
    kind = _kind(summary.get("method", "fbnet"))
    key = key or DEFAULT_KEYS[kind]
    value = _lookup(summary, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        has = ", ".join(k for k in KNOWN_KEYS[kind] if _lookup(summary, k) is not _MISSING)
        expected = f"a number in this run's summary.json (it has: {has})"
        raise ObjectiveError(SOURCE, key, expected, *(() if value is _MISSING else (value,)))
    return float(value)


def objectives(summary: Dict[str, Any], spec: Spec = None) -> Union[float, List[float]]:
    """``objective`` for one key (or the default), a list of them for a list of keys."""
    keys = _keys(spec)
    return objective(summary, spec) if keys is None else [objective(summary, k) for k in keys]


def failed_value(spec: Spec) -> Union[float, List[float]]:
    """What a job that could not run returns: NaN (per key), which sweepers record as a failed trial."""
    keys = _keys(spec)
    return float("nan") if keys is None else [float("nan")] * len(keys)
