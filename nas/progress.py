"""The one progress helper of every long loop: a tqdm bar on a terminal, a progress line at a steady
interval otherwise (a log file, a CI job, ``nohup``), so a long step is never silent.

>>> for batch in progress(loader, desc="epoch 3", unit="step"):
...     ...
>>> bar = progress(total=110, desc="ops of fbnet", unit="op")
>>> bar.update(); bar.set_postfix(best="0.71"); bar.close()

Off a terminal the line reads ``<desc>: <n>/<total> <unit> (<pct>%), <rate> <unit>/s, <elapsed> elapsed,
~<left> left [postfix]`` and is printed to stderr every ``NAS_PROGRESS_INTERVAL`` seconds (default 30),
plus once at the end when at least one line was printed. ``enabled=False`` prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, Optional, TextIO

DEFAULT_INTERVAL = 30.0


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get("NAS_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LineProgress:
    """What the loops use of tqdm (iteration, ``update``, ``n``, ``set_postfix``, ``set_description``,
    ``close``, context manager), printing a line every ``every`` seconds instead of drawing a bar."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[float] = None, desc: str = "",
                 unit: str = "it", initial: float = 0, file: Optional[TextIO] = None, every: Optional[float] = None,
                 enabled: bool = True):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = initial
        self.start_n = initial
        self.file = file
        self.every = interval() if every is None else every
        self.enabled = enabled
        self.t0 = self.last = time.monotonic()
        self.postfix = ""
        self.printed = 0
        self.closed = False

    # --- tqdm's interface -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        self.refresh_if_due()

    def set_postfix(self, ordered_dict: Optional[dict] = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: Optional[str] = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        self.refresh_if_due()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.enabled and self.printed:
            self._print()

    # --- lines ------------------------------------------------------------------------------------
    def refresh_if_due(self) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            self._print()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        done = self.n - self.start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        count = f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        left = ""
        if self.total and rate > 0 and self.n < self.total:
            left = f", ~{_clock((self.total - self.n) / rate)} left"
        speed = f"{rate:.3g} {self.unit}/s" if rate >= 0.1 or rate == 0 else f"{1 / rate:.3g} s/{self.unit}"
        text = f"{self.desc}: {count}{pct}, {speed}, {_clock(elapsed)} elapsed{left}"
        return text + (f" [{self.postfix}]" if self.postfix else "")

    def _print(self) -> None:
        self.printed += 1
        print(self.line(), file=self.file or sys.stderr, flush=True)


def is_terminal(file: Optional[TextIO] = None) -> bool:
    stream = file or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable: Optional[Iterable] = None, *, total: Optional[float] = None, desc: str = "", unit: str = "it",
             enabled: bool = True, initial: float = 0, leave: bool = True, file: Optional[TextIO] = None,
             every: Optional[float] = None, **tqdm_options: Any):
    """A tqdm bar on a terminal, a :class:`LineProgress` otherwise (see the module docstring)."""
    if enabled and is_terminal(file):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=file,
                    dynamic_ncols=True, **tqdm_options)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file, every=every,
                        enabled=enabled)
