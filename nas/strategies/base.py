"""What every search controller has: ask/tell over a space's decisions, history, best, checkpoint state.

A strategy sees a :class:`~nas.space.SearchSpace` only through its ``decisions`` (labels with ordered
choices) and ``encode``/``decode``/``make_arch``; it never sees block classes. Internally an
architecture is its integer encoding (one choice index per decision).

>>> s = create_strategy("evolution", space, seed=0)
>>> arch = s.ask()
>>> s.tell(arch, {"reward": 0.71, "accuracy": 0.74, "latency_ms": 9.3})
>>> s.best().arch, s.state_dict()

Subclasses implement ``_propose() -> (encoding, info)`` and ``_observe(encoding, record, info)``,
and ``_state()`` / ``_load_state()`` for what they keep beyond the history.

A hard latency constraint reaches a strategy only as a yes/no per architecture: the job calls
:meth:`Strategy.constrain` with ``feasible(arch) -> bool`` (the latency source's prediction against
the target) and a strategy whose ``feasible_only`` option is on proposes feasible archs only
(:meth:`Strategy.feasible`, :meth:`Strategy.draw_feasible`); the latency model costs no evaluation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from nas.errors import NasError
from nas.pareto import front_indices
from nas.space import Arch

Encoding = List[int]
MAX_TRIES = 1000  # draws a strategy makes to find a feasible arch before it proposes an infeasible one
OBJECTIVE_SENSES = {"reward": "max", "accuracy": "max", "latency_ms": "min", "params": "min", "macs": "min"}


class StrategyError(NasError):
    """A search that cannot go on: bad options, a result without a reward, a checkpoint or log that does
    not belong to this search. Names the source, the key and what was expected."""


class SearchError(StrategyError):
    """A search that cannot go on as configured (NaN loss, impossible latency target, bad checkpoint)."""



@dataclass(frozen=True)
class Record:
    """One evaluated architecture: its position in the history, the arch and the evaluator's figures."""

    step: int
    arch: Arch
    result: Dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        return float(self.result["reward"])


def _scalar(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    return value


def check_result(result: Any, source: str = "evaluate()") -> Dict[str, Any]:
    """A copy of ``result`` with plain scalar values; it must hold a finite number under ``reward``."""
    if not isinstance(result, Mapping):
        raise StrategyError(source, "<result>", "a dict with at least 'reward'", type(result).__name__)
    out: Dict[str, Any] = {}
    for key, value in result.items():
        value = _scalar(value)
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise StrategyError(source, str(key), "a number, string, bool or None", type(value).__name__)
        out[str(key)] = value
    reward = out.get("reward")
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not math.isfinite(reward):
        raise StrategyError(source, "reward", "a finite number", reward)
    out["reward"] = float(reward)
    return out


def pareto_front(records: Iterable[Record], objectives: Sequence[str] = ("accuracy", "latency_ms")) -> List[Record]:
    """The non-dominated records under ``objectives`` (senses from OBJECTIVE_SENSES: accuracy up,
    latency down), sorted by the last objective. Records lacking an objective are left out; of equal
    points the first evaluated is kept."""
    records = list(records)
    points = [[r.result.get(o) for o in objectives] for r in records]
    keep = front_indices(points, [OBJECTIVE_SENSES.get(o, "max") for o in objectives])
    return sorted((records[i] for i in keep), key=lambda r: r.result[objectives[-1]])


def rng_state(rng: random.Random) -> list:
    """``random.Random`` state as nested lists (JSON- and ``weights_only``-loadable)."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: Sequence[Any]) -> None:
    version, internal, gauss = state
    rng.setstate((int(version), tuple(int(x) for x in internal), gauss))


def seed_stream(*parts: Any) -> int:
    """A 63-bit seed derived from ``parts`` (stable across processes, unlike ``hash``)."""
    r = random.Random(":".join(str(p) for p in parts))
    return r.getrandbits(63)


class Strategy:
    """Base class of the controllers; see the module docstring."""

    name = "strategy"
    #: whether resuming re-runs ask/tell over the logged records after loading a checkpoint
    replays_log = True

    def __init__(self, space: Any, seed: int = 0):
        if not getattr(space, "decisions", None):
            raise StrategyError(f"space '{getattr(space, 'name', space)}'", "decisions", "at least one decision")
        self.space = space
        self.seed = int(seed)
        self.decisions = list(space.decisions)
        self.sizes = [len(d.choices) for d in self.decisions]
        self.history: List[Record] = []
        self._pending: List[Tuple[Encoding, Any]] = []
        self._known: Dict[Tuple[int, ...], int] = {}  # encoding -> first step
        self._best: Optional[Record] = None
        self.options: Dict[str, Any] = {}  # options that shape the proposals; a resume must use the same
        self._constraint: Optional[Callable[[Arch], bool]] = None
        self._feasible: Dict[Tuple[int, ...], bool] = {}

    # --- ask / tell --------------------------------------------------------------------------------
    def ask(self) -> Arch:
        """The next architecture to evaluate (several may be asked before they are told)."""
        enc, info = self._propose()
        enc = [int(i) for i in enc]
        self._pending.append((enc, info))
        return self.space.decode(enc)

    def tell(self, arch: Arch, result: Mapping[str, Any]) -> Record:
        """Report the figures of an asked ``arch``: a dict with ``reward`` (and ``accuracy``,
        ``latency_ms`` when known). Returns the history record."""
        enc = self.space.encode(arch)
        for i, (pending, info) in enumerate(self._pending):
            if pending == enc:
                break
        else:
            raise StrategyError(f"strategy '{self.name}'", "tell", "an arch returned by ask() and not yet told",
                                arch.choices)
        result = check_result(result, f"result of step {len(self.history)}")
        self._pending.pop(i)
        record = self._add_record(enc, result)
        self._observe(enc, record, info)
        return record

    def _add_record(self, enc: Encoding, result: Dict[str, Any]) -> Record:
        """Append to the history (and keep the index of known archs and the best up to date)."""
        record = Record(len(self.history), self.space.decode(enc), result)
        self.history.append(record)
        self._known.setdefault(tuple(enc), record.step)
        if self._best is None or record.reward > self._best.reward:
            self._best = record
        return record

    def lookup(self, arch: Arch) -> Optional[Record]:
        """The first record of ``arch`` in the history, if it was evaluated before."""
        step = self._known.get(tuple(self.space.encode(arch)))
        return None if step is None else self.history[step]

    def best(self) -> Optional[Record]:
        """The record with the highest reward so far (the first of equals), or None."""
        return self._best

    def num_done(self) -> int:
        """Evaluations this search has finished (the driver runs until it reaches the budget)."""
        return len(self.history)

    @property
    def num_pending(self) -> int:
        return len(self._pending)

    # --- the search's hard constraint --------------------------------------------------------------
    def constrain(self, feasible: Optional[Callable[[Arch], bool]]) -> None:
        """Hand the strategy the search's hard constraint: ``feasible(arch)`` tells whether an arch meets
        it (None: none). Strategies with the option ``feasible_only`` then propose feasible archs only;
        the others (and random search by default) ignore it."""
        self._constraint = feasible
        self._feasible = {}

    @property
    def constrained(self) -> bool:
        """Whether proposals are restricted to the feasible archs (a constraint and ``feasible_only``)."""
        return self._constraint is not None and bool(self.options.get("feasible_only"))

    def feasible(self, enc: Sequence[int]) -> bool:
        """Whether the encoding meets the constraint (always, without one); cached per encoding."""
        if self._constraint is None:
            return True
        key = tuple(int(i) for i in enc)
        ok = self._feasible.get(key)
        if ok is None:
            ok = self._feasible[key] = bool(self._constraint(self.space.decode(list(key))))
        return ok

    def draw_feasible(self, draw: Callable[[], Encoding], tries: int = MAX_TRIES) -> Encoding:
        """``draw()`` again until it gives a feasible encoding when :attr:`constrained` (at most ``tries``
        draws; then the last one, so a search on an all-but-infeasible space still goes on)."""
        enc = draw()
        if self.constrained:
            for _ in range(tries - 1):
                if self.feasible(enc):
                    break
                enc = draw()
        return enc

    # --- checkpoint / resume -----------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue exactly: plain Python values and tensors, loadable with
        ``torch.load(weights_only=True)`` (and JSON-able for every strategy but ``mnasnet``)."""
        return {
            "strategy": self.name, "space": self.space.name, "seed": self.seed,
            "decisions": [[d.label, list(d.choices)] for d in self.decisions], "options": dict(self.options),
            "history": [[self.space.encode(r.arch), dict(r.result)] for r in self.history],
            "pending": [[list(enc), info] for enc, info in self._pending],
            "extra": self._state(),
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "checkpoint") -> None:
        """Continue from ``state_dict()``; a state of another strategy, space, seed or options raises
        StrategyError naming ``source`` and the key."""
        if not isinstance(state, Mapping):
            raise StrategyError(source, "<state>", f"a state of strategy '{self.name}'", type(state).__name__)
        for key, mine in (("strategy", self.name), ("space", self.space.name), ("seed", self.seed),
                          ("decisions", [[d.label, list(d.choices)] for d in self.decisions])):
            if key not in state or state[key] != mine:
                got = state.get(key, "<missing>")
                raise StrategyError(source, key, f"{mine!r} (this search)" if key != "decisions" else
                                    "the decisions of this search's space", got if key != "decisions" else ...)
        theirs = state.get("options", {})
        for key in sorted(set(self.options) | set(theirs)):
            if theirs.get(key, "<missing>") != self.options.get(key, "<missing>"):
                raise StrategyError(source, f"options.{key}", f"{self.options.get(key, '<missing>')!r} (this "
                                    "search; resume with the options the search started with)",
                                    theirs.get(key, "<missing>"))
        try:
            self.history, self._known, self._best = [], {}, None
            for enc, result in state["history"]:
                self._add_record([int(i) for i in enc], dict(result))
            self._pending = [([int(i) for i in enc], info) for enc, info in state["pending"]]
            self._load_state(state["extra"])
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise StrategyError(source, "<state>", f"a complete state of strategy '{self.name}' "
                                f"({type(err).__name__}: {err})") from None

    def restore(self, state: Optional[Mapping[str, Any]], records: Sequence[Record], source: str = "log",
                state_source: str = "checkpoint") -> None:
        """Resume: load ``state`` (a checkpoint, or None to start from scratch), then replay ``records``
        (evaluated after that checkpoint): ask, check the same arch comes out, tell the logged figures.
        ``source`` / ``state_source`` name the log and checkpoint in errors."""
        if state is not None:
            self.load_state_dict(state, state_source)
        for r in records:
            arch = self.ask()
            if arch.choices != r.arch.choices:
                raise StrategyError(source, f"step {r.step}", f"the arch this strategy proposes with seed {self.seed} "
                                    f"({self.space.encode(arch)}); the log was written by another search "
                                    "(strategy, options or seed differ)", self.space.encode(r.arch))
            self.tell(arch, r.result)

    # --- hooks for subclasses ----------------------------------------------------------------------
    def _propose(self) -> Tuple[Encoding, Any]:
        raise NotImplementedError

    def _observe(self, enc: Encoding, record: Record, info: Any) -> None:
        pass

    def _state(self) -> Dict[str, Any]:
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self.seed}, done={self.num_done()})"
