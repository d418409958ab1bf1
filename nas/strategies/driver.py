"""The search loop shared by every controller: ask, evaluate, tell, log, checkpoint, resume.

>>> result = run_strategy(strategy, evaluate, budget=200, log_path="archs.jsonl", checkpoint_path="search.pt")
>>> result.best.arch, result.best.result

- ``evaluate(arch) -> dict`` returns at least ``reward`` (plus ``accuracy``, ``latency_ms``, ...).
- Every evaluated arch is appended to the JSONL log, one line each:
  ``{"step", "choices", "encoding", "result", "cached", "eval_s"}``.
- Every ``checkpoint_every`` evaluations (and at the end) the strategy's state is written atomically
  with ``torch.save`` (loaded back with ``weights_only=True``).
- Resume (the default when the log or checkpoint exists): load the checkpoint, then replay the log
  lines written after it (the strategy re-proposes each logged arch, which is checked, and is told the
  logged figures without evaluating again). A killed search so continues where it stopped and ends
  with the same archs and best as an uninterrupted one with the same seed. A truncated last log line
  (killed while writing) is dropped. Optuna with a persistent storage resumes from its study instead.
- ``cache``: an arch evaluated before is told its logged figures again instead of being re-evaluated
  (it still counts toward the budget, and is logged with ``"cached": true``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch

from nas.io import atomic_torch_save
from nas.progress import progress as progress_bar
from nas.space import Arch, SpaceError
from nas.strategies.base import Record, Strategy, StrategyError

CHECKPOINT_FORMAT = "nas-strategy-checkpoint/1"


@dataclass
class SearchResult:
    """What ``run_strategy`` returns."""

    best: Optional[Record]
    records: List[Record]  # every arch in this search's log, in order (restored ones first)
    evaluations: int  # calls to evaluate() made by this run (cached repeats and replays excluded)
    resumed: int  # records restored from an earlier run's log
    strategy: Strategy = field(repr=False, default=None)


def log_line(record: Record, encoding: List[int], cached: bool, eval_s: float) -> str:
    return json.dumps({"step": record.step, "choices": record.arch.choices, "encoding": encoding,
                       "result": record.result, "cached": cached, "eval_s": round(eval_s, 6)}) + "\n"


def read_log(path: str | os.PathLike, space: Any, repair: bool = False) -> List[Record]:
    """The records of a JSONL search log. A truncated last line is dropped (and cut from the file when
    ``repair``); any other bad line raises StrategyError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail: what follows the last newline (empty if none)
    records: List[Record] = []
    for n, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            arch = space.decode(data["encoding"])
            logged = data["choices"]
            if set(arch.choices) != set(logged) or any(arch.choices[k] != v for k, v in logged.items()):
                raise ValueError("choices do not match the encoding")
            records.append(Record(len(records), arch, dict(data["result"])))
        except (ValueError, KeyError, TypeError, SpaceError) as err:
            raise StrategyError(str(path), f"line {n}", f"a JSON record of an arch of space '{space.name}' "
                                f"({type(err).__name__}: {err})") from None
    if tail.strip() and repair:
        with open(path, "r+b") as f:
            f.truncate(len(raw) - len(tail))
    return records


def save_checkpoint(path: str | os.PathLike, strategy: Strategy, log_records: int) -> None:
    """Write the strategy's state atomically (temp file + rename)."""
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "log_records": log_records, "state": strategy.state_dict()},
                      path)


def load_checkpoint(path: str | os.PathLike) -> Optional[Dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, weights_only=True)
    except Exception as err:  # truncated or foreign file: one clear message
        raise StrategyError(str(path), "<file>",
                            f"a search checkpoint written by run_strategy ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise StrategyError(str(path), "format", repr(CHECKPOINT_FORMAT),
                            ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__)
    return ckpt


def run_strategy(strategy: Strategy, evaluate: Callable[[Arch], Mapping[str, Any]], budget: int,
               log_path: str | os.PathLike | None = None, checkpoint_path: str | os.PathLike | None = None,
               checkpoint_every: int = 10, progress: bool = True, resume: bool = True, cache: bool = True,
               on_record: Optional[Callable[[Record, Record], None]] = None) -> SearchResult:
    """Run ``strategy`` until it has ``budget`` evaluations (see the module docstring).

    ``on_record(record, best)`` is called after each new evaluation (TensorBoard, plots)."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise StrategyError("run_strategy", "budget", "an integer >= 0", budget)
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise StrategyError("run_strategy", "checkpoint_every", "an integer >= 1", checkpoint_every)
    space = strategy.space
    records = read_log(log_path, space, repair=resume) if log_path else []
    ckpt = load_checkpoint(checkpoint_path) if checkpoint_path else None
    if (records or ckpt) and not resume:
        found = log_path if records else checkpoint_path
        raise StrategyError(str(found), "<file>", "no earlier search at this path (resume=True continues it; "
                            "nothing was overwritten)")
    start = int(ckpt["log_records"]) if ckpt else 0
    if log_path and start > len(records):
        raise StrategyError(str(log_path), "<records>", f"at least the {start} records the checkpoint "
                            f"{checkpoint_path} was written after", len(records))
    if ckpt or records:
        strategy.restore(ckpt["state"] if ckpt else None, records[start:], source=str(log_path or checkpoint_path),
                         state_source=str(checkpoint_path))
    if not log_path:
        records = list(strategy.history)
    resumed, evaluations, saved = len(records), 0, start
    bar = progress_bar(total=budget, initial=min(strategy.num_done(), budget), enabled=progress,
                       desc=f"{strategy.name} search", unit="arch")
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a") if log_path else None
    try:
        while strategy.num_done() < budget:
            arch = strategy.ask()
            seen = strategy.lookup(arch) if cache else None
            t0 = time.perf_counter()
            if seen is not None:
                result = seen.result
            else:
                result = evaluate(arch)
                evaluations += 1
            eval_s = time.perf_counter() - t0
            record = strategy.tell(arch, result)
            if log:
                log.write(log_line(record, space.encode(record.arch), seen is not None, eval_s))
                log.flush()
            records.append(record)
            best = strategy.best()
            if on_record is not None:
                on_record(record, best)
            bar.n = min(strategy.num_done(), budget)
            bar.set_postfix(best=f"{best.reward:.4f}" if best else "-", refresh=False)
            bar.update(0)
            if checkpoint_path and len(records) - saved >= checkpoint_every:
                save_checkpoint(checkpoint_path, strategy, len(records))
                saved = len(records)
        if checkpoint_path and (saved != len(records) or ckpt is None):
            save_checkpoint(checkpoint_path, strategy, len(records))
    finally:
        bar.close()
        if log:
            log.close()
    return SearchResult(best=strategy.best(), records=records, evaluations=evaluations, resumed=resumed,
                        strategy=strategy)
