"""Hydra override grammar -> Optuna distributions, and a trial's values back to overrides.

``choice(a,b)`` / ``a,b`` -> categorical; ``range(lo,hi[,step])`` -> int (or stepped float) over the
values the range yields; ``interval(a,b)`` -> float (``int(interval(a,b))`` -> int), ``tag(log, ...)`` ->
log scale. Any other override is passed to every job unchanged.
"""


from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.errors import CompactHydraException, HydraException

SCALARS = (str, int, float, bool)


class SweeperError(CompactHydraException):
    """A sweep that cannot run as configured (Hydra prints the message alone and exits 1)."""


def _parses_to(key: str, text: str, value: Any) -> bool:
    try:
        parsed = OverridesParser.create().parse_overrides([f"{key}={text}"])[0]
    except HydraException:
        return False
    return not parsed.is_sweep_override() and type(parsed.value()) is type(value) and parsed.value() == value


def value_text(key: str, value: Any) -> str:
    """``value`` written so that ``key=<text>`` parses back to exactly ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _parses_to(key, text, value):
        return text
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if not _parses_to(key, quoted, value):
        raise SweeperError(f"{key}: cannot write the choice {value!r} as an override value")
    return quoted


def _range(override: Override):
    from optuna.distributions import FloatDistribution, IntDistribution

    values = sorted(override.sweep_iterator())
    if not values:
        raise SweeperError(f"{override.input_line}: the range is empty")
    step = abs(override.value().step)
    if all(isinstance(v, int) for v in values) and isinstance(step, int):
        return IntDistribution(values[0], values[-1], step=step)
    high = round(values[0] + (len(values) - 1) * step, 12)
    return FloatDistribution(float(values[0]), high, step=float(step))


def _interval(override: Override):
    from optuna.distributions import FloatDistribution, IntDistribution

    sweep = override.value()
    log = "log" in sweep.tags
    if sweep.start >= sweep.end or (log and sweep.start <= 0):
        raise SweeperError(f"{override.input_line}: expected interval(low, high) with low < high"
                           + (" and low > 0 on a log scale" if log else ""))
    if isinstance(sweep.start, int) and isinstance(sweep.end, int):
        return IntDistribution(sweep.start, sweep.end, log=log)
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def _choice(override: Override) -> Tuple[Any, List[str]]:
    from optuna.distributions import CategoricalDistribution

    key = override.get_key_element()
    raw = list(override.sweep_iterator())
    encoded = list(override.sweep_iterator(transformer=Transformer.encode))
    choices = [r if isinstance(r, SCALARS) else e for r, e in zip(raw, encoded)]  # lists/dicts: their text
    texts = [value_text(key, r) if isinstance(r, SCALARS) else e for r, e in zip(raw, encoded)]
    return CategoricalDistribution(choices), texts


@dataclass
class SearchSpace:
    """The swept parameters as Optuna distributions, and every override in its command-line order."""

    distributions: Dict[str, Any] = field(default_factory=dict)
    fixed: Dict[str, str] = field(default_factory=dict)  # key -> its override line, passed unchanged
    order: List[str] = field(default_factory=list)
    choice_texts: Dict[str, List[str]] = field(default_factory=dict)

    def overrides(self, params: Dict[str, Any]) -> List[str]:
        """One job's overrides: the fixed ones and the trial's ``params``."""
        out = []
        for key in self.order:
            if key in self.fixed:
                out.append(self.fixed[key])
                continue
            value = params[key]
            texts = self.choice_texts.get(key)
            if texts is not None:
                choices = self.distributions[key].choices
                i = next(i for i, c in enumerate(choices) if type(c) is type(value) and c == value)
                out.append(f"{key}={texts[i]}")
            else:
                out.append(f"{key}={value_text(key, value)}")
        return out


def parse_search_space(lines: Sequence[str]) -> SearchSpace:
    """Parse override lines (``hydra.sweeper.params`` first, then the command line: a later key wins)."""
    try:
        overrides = OverridesParser.create().parse_overrides(list(lines))
    except HydraException as err:
        raise SweeperError(str(err).splitlines()[0]) from err
    space = SearchSpace()
    for override in overrides:
        key = override.get_key_element()
        space.fixed.pop(key, None)
        space.distributions.pop(key, None)
        space.choice_texts.pop(key, None)
        if key not in space.order:
            space.order.append(key)
        if not override.is_sweep_override():
            space.fixed[key] = override.input_line
        elif override.is_choice_sweep():
            space.distributions[key], space.choice_texts[key] = _choice(override)
        elif override.is_range_sweep():
            space.distributions[key] = _range(override)
        elif override.is_interval_sweep():
            space.distributions[key] = _interval(override)
        else:
            raise SweeperError(f"{override.input_line}: the nas_optuna sweeper takes choice(...), range(...) "
                               f"and interval(...) sweeps, not {type(override.value()).__name__}")
    return space
