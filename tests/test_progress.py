"""nas.progress: a tqdm bar on a terminal, a progress line at a steady interval otherwise."""

import io

from tqdm import tqdm

from nas.progress import LineProgress, progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_lines_come_at_the_interval_with_rate_and_time_left(monkeypatch):
    out = io.StringIO()
    clock = [100.0]
    monkeypatch.setattr("nas.progress.time.monotonic", lambda: clock[0])
    bar = progress(range(10), desc="ops of toy", unit="op", file=out, every=5.0)
    assert isinstance(bar, LineProgress)
    seen = []
    for i in bar:
        clock[0] += 1.0  # one op per second
        seen.append(i)
        if i == 5:
            bar.set_postfix(best="0.71")
    lines = out.getvalue().splitlines()
    assert seen == list(range(10))
    assert lines[0] == "ops of toy: 5/10 op (50%), 1 op/s, 0:05 elapsed, ~0:05 left"
    assert lines[1] == "ops of toy: 10/10 op (100%), 1 op/s, 0:10 elapsed [best=0.71]"
    assert lines[-1] == "ops of toy: 10/10 op (100%), 1 op/s, 0:10 elapsed [best=0.71]" and len(lines) == 3


def test_short_loops_stay_silent_and_disabled_bars_print_nothing():
    out = io.StringIO()
    for _ in progress(range(3), desc="quick", file=out, every=60.0):
        pass
    for _ in progress(range(3), desc="off", file=out, every=0.0, enabled=False):
        pass
    assert out.getvalue() == ""


def test_manual_updates_initial_and_slow_rates(monkeypatch):
    out = io.StringIO()
    clock = [0.0]
    monkeypatch.setattr("nas.progress.time.monotonic", lambda: clock[0])
    bar = progress(total=6, initial=2, desc="search", unit="epoch", file=out, every=10.0)  # a resumed loop
    clock[0] = 120.0
    bar.n = 3
    bar.update(0)
    bar.close()
    assert out.getvalue().splitlines()[0] == "search: 3/6 epoch (50%), 120 s/epoch, 2:00 elapsed, ~6:00 left"


def test_a_terminal_gets_tqdm():
    term = Terminal()
    bar = progress(range(2), desc="x", file=term)
    assert isinstance(bar, tqdm)
    list(bar)
    assert "x" in term.getvalue()
