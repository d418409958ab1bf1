"""The figure(s) a search job returns to a Hydra sweeper, read from its :class:`~nas.results.SearchSummary`.

A key is a dotted path into the summary: ``found.accuracy`` (the search's accuracy estimate of the
found arch: shared weights for fbnet, the evaluator's score for controllers), ``found.reward`` (the
controllers' MNASNet reward), ``found.latency_ms`` (the latency the search used), ``found.measured_ms``
(timed after the search, with ``latency.measure=true``), ``found.params_m``, ``found.macs_m``,
``target_ms``, ``evaluations``, ``seconds``. The default is the method's own (``objective`` of its
class: fbnet ``found.accuracy``, controllers ``found.reward``). A list of keys gives one value per key
(a multi-objective sweep, ``hydra.sweeper.direction=[...]``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from nas.errors import NasError
from nas.results import SearchSummary

SOURCE = "hydra.sweeper.objective"
COMMON = ("found.accuracy", "found.latency_ms", "found.measured_ms", "found.params_m", "found.macs_m", "target_ms",
          "seconds")
CONTROLLER = ("found.reward", "evaluations")
Spec = Union[None, str, Sequence[str]]


class ObjectiveError(NasError):
    """An objective key the search's summary does not have (or that is not a number)."""


def _method(method: str):
    from nas.strategies import STRATEGIES

    return STRATEGIES.get(method)


def known_keys(method: str) -> tuple:
    """The numeric figures a ``method`` search reports in its summary."""
    return COMMON + (CONTROLLER if _method(method).objective == "found.reward" else ())


def _keys(spec: Spec) -> Optional[List[str]]:
    if spec is None or isinstance(spec, str):
        return None
    return [str(k) for k in spec]


def check_spec(method: str, spec: Spec) -> None:
    """Fail before a search runs when ``spec`` names a figure a ``method`` search never reports."""
    known = known_keys(method)
    for key in _keys(spec) or ([] if spec is None else [spec]):
        if key not in known:
            raise ObjectiveError(SOURCE, key, f"a figure of a method={method} summary: {', '.join(known)}")


def objective(summary: Union[SearchSummary, Dict[str, Any]], key: Optional[str] = None) -> float:
    """The number at dotted ``key`` of ``summary`` (default: the method's, see the module docstring)."""
    if not isinstance(summary, SearchSummary):
        summary = SearchSummary.from_dict(summary)
    key = key or _method(summary.method).objective
    value = summary.figure(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        has = ", ".join(k for k in known_keys(summary.method) if isinstance(summary.figure(k), (int, float)))
        expected = f"a number in this run's summary.json (it has: {has})"
        raise ObjectiveError(SOURCE, key, expected, *(() if value is None else (value,)))
    return float(value)


def objectives(summary, spec: Spec = None) -> Union[float, List[float]]:
    """``objective`` for one key (or the default), a list of them for a list of keys."""
    keys = _keys(spec)
    return objective(summary, spec) if keys is None else [objective(summary, k) for k in keys]


def failed_value(spec: Spec) -> Union[float, List[float]]:
    """What a job that could not run returns: NaN (per key), which sweepers record as a failed trial."""
    keys = _keys(spec)
    return float("nan") if keys is None else [float("nan")] * len(keys)
