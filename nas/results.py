"""Results one app writes and another reads, as typed and versioned JSON files.

- :class:`SearchSummary`: ``summary.json`` of ``python -m nas.search`` (every method alike: the found
  arch, the candidates worth a look, the history), read by ``nas.report``, the sweeps' objectives
  and the bench scripts;
- :class:`TrainResult`: ``result.json`` of ``python -m nas.train``.

Each file records ``kind`` and ``schema_version``. A file of an older schema is upgraded when it is
read (the summaries of version 1 held the found arch under ``final`` (fbnet) or ``best``
(controllers)); anything else ends in one :class:`ResultError` naming the file and the key.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from nas.errors import NasError
from nas.io import write_json


class ResultError(NasError):
    """A results file that is missing, corrupt, of another kind or of an unknown schema version."""


def _read(path: str | os.PathLike) -> Dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultError(str(path), "<file>", "an existing results file") from None
    except (OSError, ValueError) as err:
        raise ResultError(str(path), "<file>", f"valid JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ResultError(str(path), "<top level>", "a JSON object", type(data).__name__)
    return data


def _typed(cls, data: Mapping[str, Any], source: str, key: str):
    """``cls(**data)`` with every field checked: numbers are numbers, strings strings, nothing unknown."""
    if not isinstance(data, Mapping):
        raise ResultError(source, key, f"a mapping of {cls.__name__} fields", type(data).__name__)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ResultError(source, f"{key}.{unknown[0]}" if key else unknown[0],
                          f"only the fields of {cls.__name__} ({', '.join(known)})")
    for name, value in data.items():
        kind = str(known[name].type)
        if value is None or any(t in kind for t in ("List", "Dict", "Any", "ArchFigures")):
            continue
        if "float" in kind or "int" in kind:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ResultError(source, f"{key}.{name}" if key else name, "a number", value)
        elif "str" in kind and not isinstance(value, str):
            raise ResultError(source, f"{key}.{name}" if key else name, "a string", value)
    return cls(**data)


class _File:
    """What both results files do: to a dict, atomically to JSON, back from a file."""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike):
        return cls.from_dict(_read(path), str(path))


@dataclass
class ArchFigures:
    """One architecture a search reports: its file and what the search knows of it."""

    arch_file: str
    accuracy: Optional[float] = None  # the search's estimate (what it is: SearchSummary.accuracy_kind)
    latency_ms: Optional[float] = None  # the latency the search used (table prediction, lookup or measurement)
    measured_ms: Optional[float] = None  # timed end to end after the search, on the latency table's scale
    params_m: Optional[float] = None
    macs_m: Optional[float] = None
    reward: Optional[float] = None  # controllers: MNASNet's reward
    log_prob: Optional[float] = None  # fbnet's samples: log-probability under the final theta
    extra: Dict[str, Any] = field(default_factory=dict)  # further figures of the evaluator (e.g. eval_s)


SEARCH_KIND, SEARCH_SCHEMA = "nas.search", 2


@dataclass
class SearchSummary(_File):
    """``summary.json``: what a search found, whatever the method."""

    space: str
    method: str
    found: ArchFigures
    accuracy_kind: str  # what ``accuracy`` is, e.g. "shared weights (fbnet search)", "proxy evaluator (search)"
    candidates: List[ArchFigures] = field(default_factory=list)
    candidates_are: str = ""  # "samples of the final distribution" (fbnet) | "Pareto front" (controllers)
    evaluator: Optional[str] = None
    target_ms: Optional[float] = None
    latency_range_ms: Optional[List[float]] = None
    derive: Optional[str] = None  # fbnet: how the found arch was derived from theta
    evaluations: Optional[int] = None
    resumed: Optional[int] = None  # evaluations or epochs done before this run resumed the search
    seconds: Optional[float] = None
    seconds_before_resume: Optional[float] = None
    history: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    # further figures of the search, e.g. against a benchmark's ground truth (regret, hypervolume_ratio)
    figures: Dict[str, Any] = field(default_factory=dict)
    kind: str = SEARCH_KIND
    schema_version: int = SEARCH_SCHEMA

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "summary.json") -> "SearchSummary":
        data = dict(data)
        version = data.get("schema_version", 1)
        if data.get("kind", SEARCH_KIND) != SEARCH_KIND:
            raise ResultError(source, "kind", f"{SEARCH_KIND!r} (a summary.json of nas.search)", data.get("kind"))
        if version == 1:
            data = _upgrade_search_v1(data, source)
        elif version != SEARCH_SCHEMA:
            raise ResultError(source, "schema_version", f"1 or {SEARCH_SCHEMA} (written by another version of nas)",
                              version)
        for key in ("space", "method", "found", "accuracy_kind"):
            if key not in data:
                raise ResultError(source, key, "this field of a search summary")
        data["found"] = _typed(ArchFigures, data["found"], source, "found")
        cands = data.get("candidates") or []
        if not isinstance(cands, list):
            raise ResultError(source, "candidates", "a list", type(cands).__name__)
        data["candidates"] = [_typed(ArchFigures, c, source, f"candidates[{i}]") for i, c in enumerate(cands)]
        return _typed(cls, data, source, "")


    def figure(self, key: str) -> Any:
        """The value at a dotted ``key`` (``found.accuracy``, ``seconds``, ...), or None."""
        node: Any = self.to_dict()
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


_V1_FIGURES = {"val_acc_shared_weights": "accuracy", "predicted_ms": "latency_ms"}


def _v1_figures(figures: Any, source: str, key: str, arch_file: Optional[str] = None) -> Dict[str, Any]:
    if not isinstance(figures, Mapping):
        raise ResultError(source, key, "a mapping of the arch's figures", figures)
    out: Dict[str, Any] = {"arch_file": arch_file or figures.get("arch_file") or "", "extra": {}}
    names = {f.name for f in fields(ArchFigures)}
    for k, v in figures.items():
        k = _V1_FIGURES.get(k, k)
        if k in names and k not in ("arch_file", "extra"):
            out[k] = v
        elif k != "arch_file" and isinstance(v, (int, float)) and math.isfinite(v):
            out["extra"][k] = v
    return out


def _upgrade_search_v1(s: Dict[str, Any], source: str) -> Dict[str, Any]:
    """A summary of schema 1: fbnet's found arch under ``final`` (+ ``samples``), the controllers' under
    ``best`` (+ ``pareto``)."""
    method = s.get("method")
    if not isinstance(method, str):
        raise ResultError(source, "method", "the search method's name (a summary.json of nas.search)", method)
    common = {k: s[k] for k in ("target_ms", "latency_range_ms", "derive", "evaluations", "resumed", "seconds",
                                "seconds_before_resume", "history", "evaluator") if k in s}
    if "final" in s:
        found = _v1_figures(s["final"], source, "final", s.get("arch_file"))
        cands = [_v1_figures(c, source, f"samples[{i}]") for i, c in enumerate(s.get("samples") or [])]
        return {"space": s.get("space", ""), "method": method, "found": found, "candidates": cands,
                "accuracy_kind": f"shared weights ({method} search)",
                "candidates_are": "samples of the final distribution",
                "notes": [s["measure_note"]] if "measure_note" in s else [], **common}
    if "best" in s:
        found = _v1_figures(s["best"], source, "best", s.get("arch_file"))
        cands = [_v1_figures(c, source, f"pareto[{i}]") for i, c in enumerate(s.get("pareto") or [])]
        return {"space": s.get("space", ""), "method": method, "found": found, "candidates": cands,
                "accuracy_kind": ("shared weights (oneshot evaluator)" if s.get("evaluator") == "oneshot"
                                  else f"{s.get('evaluator') or '?'} evaluator (search)"),
                "candidates_are": "Pareto front",
                **common}
    raise ResultError(source, "found", "the found arch's figures (schema 1: under 'final' or 'best')")


TRAIN_KIND, TRAIN_SCHEMA = "nas.train", 1


@dataclass
class TrainResult(_File):
    """``result.json``: a net trained from scratch by ``nas.train`` (an arch file's child or a baseline)."""

    name: str
    data: str
    epochs: int
    val_acc: float  # on the dataset's test split (digits: the held-out part) after the last epoch
    best_val_acc: float
    params_m: float
    macs_m: float
    arch_file: Optional[str] = None
    model: Optional[str] = None
    variant: Optional[str] = None
    num_classes: Optional[int] = None
    latency_ms: Optional[float] = None  # batch-1 median on the device (latency: how it was timed)
    latency: Optional[Dict[str, Any]] = None
    checkpoint: str = "checkpoint.pt"
    seconds: Optional[float] = None
    seed: Optional[int] = None  # the run's seed (init, batch order, augmentation)
    history: List[Dict[str, Any]] = field(default_factory=list)
    kind: str = TRAIN_KIND
    schema_version: int = TRAIN_SCHEMA

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "result.json") -> "TrainResult":
        data = dict(data)
        if data.get("kind") == "train" and "schema_version" not in data:  # schema 0: the same fields
            data["kind"], data["schema_version"] = TRAIN_KIND, TRAIN_SCHEMA
        if data.get("kind") != TRAIN_KIND:
            raise ResultError(source, "kind", f"{TRAIN_KIND!r} (a result.json of nas.train)", data.get("kind"))
        if data.get("schema_version") != TRAIN_SCHEMA:
            raise ResultError(source, "schema_version", f"{TRAIN_SCHEMA} (written by another version of nas)",
                              data.get("schema_version"))
        for key in ("name", "data", "epochs", "val_acc", "best_val_acc", "params_m", "macs_m"):
            if key not in data:
                raise ResultError(source, key, "this field of a train result")
        if not data.get("arch_file") and not data.get("model"):
            raise ResultError(source, "arch_file", "an arch file or, for a baseline, a model name under 'model'")
        return _typed(cls, data, source, "")

