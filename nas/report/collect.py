"""Rows of the report: one per net, read from search run dirs, train run dirs and Hydra multirun dirs.

- a search run dir (``python -m nas.search``) holds ``summary.json``: its found arch (fbnet: ``final``;
  controllers: ``best``) becomes a *found-by-search* row whose accuracy is the search's own estimate
  (shared weights, or the proxy evaluator's short training), labelled as such;
- a train run dir (``python -m nas.train``) holds ``result.json``: an arch file trained from scratch is a
  *trained-found* row, a registered model (``model=``) a *baseline* row; accuracy is ``val_acc``;
- a Hydra multirun dir (``multirun.yaml`` + one dir per job; an override value holding a ``/`` nests
  the job dir) is scanned through, any other directory two levels deep; unfinished runs found while
  scanning are skipped with a warning.

A directory named on the command line that holds nothing recognisable, or a corrupt file in a run dir
named directly, is a :class:`ReportError` (one line: the file, the key, what was expected).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import yaml

from nas.errors import NasError
from nas.results import ResultError, SearchSummary, TrainResult

FOUND, TRAINED_FOUND, BASELINE = "found-by-search", "trained-found", "baseline"
KINDS = (FOUND, TRAINED_FOUND, BASELINE)
TRAINED = "trained (val)"  # accuracy kind of train runs; search estimates are labelled by where they come from
SEARCH_FILE, TRAIN_FILE = "summary.json", "result.json"
SCAN_SKIP = {"tb", ".hydra", "samples", "pareto", "__pycache__", "checkpoints"}
RUN_MARKERS = ("config.yaml", ".hydra", "__main__.log", "checkpoint.pt", "search.pt", "archs.jsonl")
EXPECTED = ("a search run dir (summary.json), a train run dir (result.json), a Hydra multirun dir "
            "(multirun.yaml + job dirs) or a directory holding such run dirs")
MULTIRUN_DEPTH = 16  # how deep job dirs are looked for inside a multirun dir
CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100}


class ReportError(NasError):
    """A run dir or file the report cannot read: ``<source>: <key>: expected <what>[, got <value>]``."""


Warn = Callable[[str], None]


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class Row:
    """One net of the report. ``measured_ms`` is the figure in use (recorded, or re-measured by
    :func:`nas.report.measure.remeasure`); ``latency_ms`` falls back to the table's prediction."""

    name: str
    kind: str  # found-by-search | trained-found | baseline
    method: str  # fbnet, mnasnet, evolution, ... for found nets; hand-designed for baselines
    source: str = ""  # the run dir ('' for baselines= rows)
    accuracy: Optional[float] = None
    accuracy_kind: Optional[str] = None  # 'trained (val)', 'shared weights (fbnet search)', ...
    target_ms: Optional[float] = None
    measured_ms: Optional[float] = None
    latency_source: Optional[str] = None  # recorded | re-measured | None (nothing measured)
    latency_setting: Dict[str, Any] = field(default_factory=dict)  # device, threads, batch size, how
    recorded_ms: Optional[float] = None  # as the run recorded it (kept when re-measured)
    predicted_ms: Optional[float] = None  # from the search's latency table
    params_m: Optional[float] = None
    macs_m: Optional[float] = None
    arch_file: Optional[str] = None
    model: Optional[str] = None
    variant: Optional[str] = None
    num_classes: Optional[int] = None
    pareto: Optional[bool] = None  # on the accuracy-latency front of its accuracy kind; None: not comparable
    accuracy_se: Optional[float] = None  # standard error of the mean accuracy over seeds (merge_seeds)
    seeds: List[int] = field(default_factory=list)  # the seeds behind a train row (merged: all of them)
    epochs: Optional[int] = None  # train rows: the training budget
    data: Optional[str] = None

    @property
    def latency_ms(self) -> Optional[float]:
        return self.measured_ms if self.measured_ms is not None else self.predicted_ms

    @property
    def latency_from(self) -> str:
        if self.measured_ms is not None:
            return self.latency_source or "recorded"
        return "predicted" if self.predicted_ms is not None else ""

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["latency_ms"], out["latency_from"] = self.latency_ms, self.latency_from
        return out


# -- files ---------------------------------------------------------------------------------------------

def read_config(run: Path) -> Dict[str, Any]:
    """The run's resolved ``config.yaml`` ({} when absent or unreadable: it only adds the target)."""
    path = run / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def resolve_arch_file(run: Path, recorded: Optional[str], default: str) -> Optional[str]:
    """The arch file a run names, or the same file name in the run dir (a run dir moved or copied
    elsewhere keeps its arch beside its summary)."""
    for candidate in ([Path(recorded), run / Path(recorded).name] if recorded else []) + [run / default]:
        if candidate.is_file():
            return str(candidate)
    return recorded


# -- search runs ---------------------------------------------------------------------------------------

def _latency_setting(run: Path, cfg: Dict[str, Any]) -> Dict[str, Any]:
    setting = {"device": _get(cfg, "device", "type") or "cpu", "batch_size": _get(cfg, "latency", "batch_size") or 1,
               "dtype": _get(cfg, "latency", "dtype") or "float32",
               "threads": _get(cfg, "latency", "threads") or _get(cfg, "device", "threads")}
    table = run / "latency_table.json"
    if table.is_file():  # the search timed its nets with the threads its table was measured with
        try:
            setting["threads"] = json.loads(table.read_text())["fingerprint"]["threads"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return setting


def _load(cls, path: Path):
    try:
        return cls.load(path)
    except ResultError as err:
        raise ReportError(str(err)) from None


def search_row(run: Path) -> Row:
    s = _load(SearchSummary, run / SEARCH_FILE)
    cfg = read_config(run)
    f = s.found
    target = _get(cfg, "latency", "target_ms")
    if target is None:
        target = s.target_ms
    default_arch = "arch.yaml" if Path(f.arch_file).name == "arch.yaml" else "best_arch.yaml"
    return Row(name=f"{s.method}:{run.name}", kind=FOUND, method=s.method, source=str(run), accuracy=f.accuracy,
               accuracy_kind=s.accuracy_kind, target_ms=float(target) if isinstance(target, (int, float)) else None,
               measured_ms=f.measured_ms, latency_source="recorded" if f.measured_ms is not None else None,
               latency_setting=_latency_setting(run, cfg) if f.measured_ms is not None else {},
               recorded_ms=f.measured_ms, predicted_ms=f.latency_ms, params_m=f.params_m, macs_m=f.macs_m,
               arch_file=resolve_arch_file(run, f.arch_file or None, default_arch))


# -- train runs ----------------------------------------------------------------------------------------

def _search_of(arch_file: str) -> Optional[Path]:
    """The search run dir an arch file came out of (its dir, or the dir above samples/ or pareto/)."""
    p = Path(arch_file).parent
    for d in (p, p.parent):
        if (d / SEARCH_FILE).is_file():
            return d
    return None


def train_row(run: Path) -> Row:
    r = _load(TrainResult, run / TRAIN_FILE)
    cfg = read_config(run)
    target = _get(cfg, "latency", "target_ms")
    method, arch_file = "hand-designed", r.arch_file
    if arch_file:
        recorded, arch_file = arch_file, resolve_arch_file(run, arch_file, "arch.yaml")  # nas.train keeps a copy
        method = "arch file"
        search = _search_of(recorded) or _search_of(arch_file)
        if search is not None:
            try:
                summary = SearchSummary.load(search / SEARCH_FILE)
            except ResultError:
                summary = None
            if summary is not None:
                method = summary.method
                if target is None:
                    target = _get(read_config(search), "latency", "target_ms")
                    target = summary.target_ms if target is None else target
    latency = r.latency or {}
    measured = r.latency_ms
    if measured is None and isinstance(latency.get("median_ms"), (int, float)):
        measured = float(latency["median_ms"])
    classes = r.num_classes or _get(cfg, "model", "num_classes") or CLASSES.get(str(r.data))
    return Row(name=str(r.name or run.name), kind=TRAINED_FOUND if arch_file else BASELINE, method=method,
               source=str(run), accuracy=r.val_acc, accuracy_kind=TRAINED,
               target_ms=float(target) if isinstance(target, (int, float)) else None, measured_ms=measured,
               latency_source="recorded" if measured is not None else None,
               latency_setting={k: latency[k] for k in ("device", "threads", "batch_size", "dtype") if k in latency},
               recorded_ms=measured, params_m=r.params_m, macs_m=r.macs_m, arch_file=arch_file or None,
               model=None if arch_file else r.model, variant=r.variant or None,
               num_classes=int(classes) if classes else None, seeds=[] if r.seed is None else [r.seed],
               epochs=r.epochs, data=r.data)


# -- finding runs --------------------------------------------------------------------------------------

def run_kind(d: Path) -> Optional[str]:
    if (d / SEARCH_FILE).is_file():
        return "search"
    if (d / TRAIN_FILE).is_file():
        return "train"
    return None


def _looks_like_run(d: Path) -> bool:
    return any((d / m).exists() for m in RUN_MARKERS)


def read_run(d: Path) -> Row:
    return search_row(d) if run_kind(d) == "search" else train_row(d)


def _scan(d: Path, depth: int, warn: Warn, seen: set) -> List[Row]:
    rows: List[Row] = []
    if (d / "multirun.yaml").is_file():  # job dirs named after overrides with a '/' in a value are nested
        depth = max(depth, MULTIRUN_DEPTH)
    for child in sorted(p for p in d.iterdir() if p.is_dir() and p.name not in SCAN_SKIP):
        key = child.resolve()
        if key in seen:
            continue
        if run_kind(child):
            seen.add(key)
            try:
                rows.append(read_run(child))
            except ReportError as err:
                warn(f"skipping {child}: {err}")
        elif _looks_like_run(child) and not (child / "multirun.yaml").is_file():
            warn(f"skipping {child}: unfinished run (no {SEARCH_FILE} or {TRAIN_FILE})")
        elif depth > 1:
            rows.extend(_scan(child, depth - 1, warn, seen))
    return rows


def collect(paths: Iterable[str | Path], warn: Optional[Warn] = None, depth: int = 2) -> List[Row]:
    """One :class:`Row` per net found under ``paths`` (run dirs, multirun dirs, dirs of runs; a
    ``summary.json`` / ``result.json`` file stands for its dir). Unfinished runs, and runs found by
    scanning whose files are unreadable, are skipped through ``warn`` (default: a ``warning:`` line on
    stderr). Raises :class:`ReportError` for a path that is missing or holds nothing recognisable, and
    when no finished run is left at all."""
    paths, warn = list(paths), warn or warn_stderr
    rows: List[Row] = []
    seen: set = set()
    skipped: List[str] = []

    def counted(message: str) -> None:
        skipped.append(message)
        warn(message)

    for given in paths:
        p = Path(given)
        if p.is_file() and p.name in (SEARCH_FILE, TRAIN_FILE):
            p = p.parent
        if not p.is_dir():
            raise ReportError(str(given), "<dir>", f"an existing directory: {EXPECTED}")
        if run_kind(p):
            if p.resolve() not in seen:
                seen.add(p.resolve())
                rows.append(read_run(p))
            continue
        if _looks_like_run(p) and not (p / "multirun.yaml").is_file():
            counted(f"skipping {given}: unfinished run (no {SEARCH_FILE} or {TRAIN_FILE})")
            continue
        before = len(skipped)
        found = _scan(p, depth, counted, seen)
        if not found and len(skipped) == before:
            raise ReportError(str(given), "<dir>", f"{EXPECTED}; found none")
        rows.extend(found)
    if not rows:
        where = ", ".join(str(g) for g in paths)
        raise ReportError(where, "<dir>", f"at least one finished run; found only unfinished or unreadable "
                          f"runs ({len(skipped)} skipped)")
    return unique_names(rows)


def unique_names(rows: List[Row]) -> List[Row]:
    """Rows whose names clash (run dirs named alike, e.g. Hydra's or tests' ``run``) get their run dir's
    parent in the name, then a ``#k`` suffix."""
    def clashing() -> Dict[str, List[Row]]:
        by: Dict[str, List[Row]] = {}
        for r in rows:
            by.setdefault(r.name, []).append(r)
        return {n: rs for n, rs in by.items() if len(rs) > 1}

    for group in clashing().values():
        for r in group:
            if r.source:
                run = Path(r.source)
                r.name = f"{r.name.rsplit(':', 1)[0]}:{run.parent.name}/{run.name}" if r.kind == FOUND \
                    else f"{r.name} ({run.parent.name}/{run.name})"
    for group in clashing().values():
        for k, r in enumerate(group[1:], 2):
            r.name = f"{r.name}#{k}"
    return rows


def baseline_rows(names: Iterable[str], variant: str = "cifar", num_classes: Optional[int] = None,
                  existing: Iterable[Row] = ()) -> List[Row]:
    """Rows of registered baselines without a train run (params and MACs profiled; latency and
    accuracy blank until measured). Names that already have a train run row of the same variant are
    left out."""
    from nas.models import create_model, model_resolution
    from nas.profile import profile

    trained = {(r.model, r.variant or variant) for r in existing if r.kind == BASELINE}
    rows = []
    classes = num_classes or (10 if variant == "cifar" else 1000)
    for name in names:
        if (name, variant) in trained:
            continue
        net = create_model(name, num_classes=classes, variant=variant)
        res = model_resolution(name, variant)
        p = profile(net, (1, 3, res, res))
        rows.append(Row(name=name, kind=BASELINE, method="hand-designed", params_m=p.params / 1e6,
                        macs_m=p.macs / 1e6, model=name, variant=variant, num_classes=classes))
    return rows
