"""Busy-machine detection (nas.latency.contention): injected readings, a real busy machine made of
spinning subprocesses, the refusal of a table build (nothing saved) and its forced, recorded form."""

import subprocess
import sys
import time

import pytest
from torch import nn

from nas.latency import get_table
from nas.latency.contention import BusyMachine, Contention, enforce, wait_for_quiet
from nas.latency.measure import Setting, time_module
from test_latency_fixtures import tiny_space

FAST = dict(min_run_time=0.001, passes=1, net_passes=1, progress=False)


@pytest.fixture(autouse=True)
def _refuse_when_busy(monkeypatch):
    monkeypatch.delenv("NAS_ALLOW_BUSY", raising=False)  # conftest forces busy machines for the other tests


def fake_clock(step_wall, step_cpu, step_wait, step_machine=None):
    """Readings that advance by a step at each read (``observe`` reads each once before, once after);
    ``step_machine``: the whole machine's CPU seconds (default: this process's alone)."""
    state = {"wall": 0.0, "cpu": 0.0, "wait": 0.0, "machine": 0.0}

    def tick(key, step):
        def read():
            state[key] += step
            return state[key]
        return read

    return dict(clock=tick("wall", step_wall), cpu=tick("cpu", step_cpu), wait=tick("wait", step_wait),
                machine=tick("machine", step_cpu if step_machine is None else step_machine))


def test_quiet_readings_are_not_busy():
    mon = Contention(1, loadavg=lambda: (0.3, 0.3, 0.3), n_cores=2, **fake_clock(1.0, 0.98, 0.01, 1.1))
    with mon.observe():
        pass
    mon.reference([1.0, 1.01, 0.99, 1.0, 1.02, 1.0])
    r = mon.verdict()
    assert not r.busy and r.reasons == [] and r.wait_share == pytest.approx(0.01)
    assert r.others_timing == pytest.approx(0.12)


@pytest.mark.parametrize("signal", ["load", "wait", "spread", "others"])
def test_each_signal_alone_says_busy(signal):
    load = 6.0 if signal == "load" else 0.3
    mon = Contention(1, loadavg=lambda: (load, load, load), n_cores=2,
                     **fake_clock(1.0, 0.5 if signal == "wait" else 0.98, 0.5 if signal == "wait" else 0.0,
                                  1.7 if signal == "others" else None))
    with mon.observe():
        pass
    mon.reference([1.0, 1.6, 1.0, 1.7, 1.0, 1.5] if signal == "spread" else [1.0] * 6)
    r = mon.verdict()
    assert r.busy and len(r.reasons) == 1
    with pytest.raises(BusyMachine) as err:
        enforce(r, False, "building the table")
    assert "\n" not in str(err.value) and "allow_busy=true" in str(err.value)
    with pytest.warns(UserWarning, match="busy machine"):
        assert enforce(r, True, "building the table").allowed


def timed_beside_spinners(n, min_run_time):
    """The verdict of a monitor timing a small conv while ``n`` processes spin on this machine's cores."""
    spin = [subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<20: pass"])
            for _ in range(n)]
    try:
        time.sleep(0.5)
        mon = Contention(1)
        s = Setting("cpu", "float32", 1, 1, min_run_time, monitor=mon)
        time_module(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()), [(8, 16, 16)], s, "conv")
        return mon.verdict()
    finally:
        for p in spin:
            p.kill()
            p.wait()


def test_real_contention_is_seen():
    """Three spinning processes on this machine's cores: the timing thread waits for a core."""
    r = timed_beside_spinners(3, 0.5)
    assert r.busy, r
    assert r.timed_seconds >= 0.4


def test_other_cores_busy_is_seen():
    """Processes spinning on every core but the timing thread's take no core from it (the run-queue wait
    stays low where there are free cores) but share its caches and memory: reported as other processes'
    CPU use while timing."""
    from nas.latency.contention import cores

    free = max(1, cores() - 1)
    r = timed_beside_spinners(free, 1.0)
    assert r.others_timing is not None and r.others_timing > 0.5 * free, r
    assert any("other processes used" in reason for reason in r.reasons), r


def busy_machine(monkeypatch, load=6.0, others=5.5):
    """A machine other jobs keep busy, as every reading sees it: the load average and other processes'
    CPU use."""
    monkeypatch.setattr("os.getloadavg", lambda: (load, load, load))
    monkeypatch.setattr("nas.latency.contention.cpu_of_others", lambda *a, **k: others)


def test_build_refuses_a_busy_machine_and_saves_nothing(tmp_path, monkeypatch):
    busy_machine(monkeypatch)
    space = tiny_space(tmp_path)
    with pytest.raises(BusyMachine) as err:
        get_table(space, threads=1, cache_dir=tmp_path / "cache", calibrate=0, allow_busy=False, busy_wait=0, **FAST)
    assert "load average 6.00" in str(err.value) and "\n" not in str(err.value)
    assert not list((tmp_path / "cache").glob("*.json")) if (tmp_path / "cache").exists() else True
    with pytest.warns(UserWarning, match="busy machine"):
        table = get_table(space, threads=1, cache_dir=tmp_path / "cache", calibrate=0, allow_busy=True, **FAST)
    load = table.meta["load"]
    assert load["busy"] and load["allowed"] and load["loadavg_before"] == 6.0


def test_waits_for_a_quieter_window():
    readings = iter([6.0, 5.0, 0.4])
    slept = []
    load = wait_for_quiet(1, 60, False, "build", loadavg=lambda: (next(readings),) * 3, sleep=slept.append)
    assert load == 0.4 and len(slept) == 2
    with pytest.raises(BusyMachine, match="load average 6.00"):
        wait_for_quiet(1, 0, False, "build", loadavg=lambda: (6.0,) * 3, sleep=slept.append)


def test_search_latency_checks_refuse_a_busy_machine(tmp_path, monkeypatch):
    from nas.latency.validate import measure_archs
    from test_latency_fixtures import synthetic_table

    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    table.fingerprint.update(target_fingerprint_here(space))
    busy_machine(monkeypatch)
    with pytest.raises(BusyMachine):
        measure_archs(table, space, [space.sample(__import__("random").Random(0))], passes=1, min_run_time=0.001,
                      allow_busy=False, busy_wait=0.0)  # refuse at once (the wait is tested apart)


def target_fingerprint_here(space):
    from nas.latency import target_fingerprint

    return target_fingerprint("cpu", 1, "float32", 1, space.resolution)


def test_own_earlier_timing_is_not_another_job(monkeypatch):
    """The 1-minute load average still holds this process's last minute of timing (a bench building
    one table after another): that share is discounted, decaying as the load average does."""
    from nas.latency import contention

    monkeypatch.setitem(contention._OWN, "until", time.monotonic())
    monkeypatch.setitem(contention._OWN, "threads", 2.0)
    mon = Contention(2, loadavg=lambda: (2.2, 2.2, 2.2), n_cores=2)
    assert not mon.busy_load(2.2, running=False)  # 2.2 - ~2.0 of our own
    assert mon.busy_load(2.2, running=False, own=0.0)
    assert contention.own_load(time.monotonic() + 600) < 0.01


def test_a_wait_that_ends_quiet_is_judged_by_the_load_after_it():
    """The table build makes its monitor, then waits for a quiet window: the verdict must read the load
    after the wait (a stale pre-wait reading refused the main job on a machine that had gone quiet)."""
    load = [0.9]
    mon = Contention(2, loadavg=lambda: (load[0],) * 3, n_cores=2, wait=lambda: None)
    assert mon.busy_load(mon.report.loadavg_before, running=False, own=0.0)  # 0.9 > 2 - 2 + 0.5
    load[0] = 0.3  # the other job ended; wait_for_quiet returned
    mon.restart()
    assert mon.report.loadavg_before == 0.3 and not mon.verdict().busy


def test_a_load_average_of_this_jobs_own_making_is_not_a_busy_machine():
    """The load average counts this process's own threads (its training a minute ago, a runtime's worker
    threads): a high load with nothing else using the CPU now is quiet; with other processes using it,
    busy, and the reason says how many cores they take."""
    mon = Contention(1, loadavg=lambda: (3.0,) * 3, others=lambda: 0.1, n_cores=2, **fake_clock(1.0, 0.98, 0.01))
    with mon.observe():
        pass
    r = mon.verdict()
    assert not r.busy and r.others_cpu == 0.1
    mon = Contention(1, loadavg=lambda: (3.0,) * 3, others=lambda: 1.8, n_cores=2, **fake_clock(1.0, 0.98, 0.01))
    with mon.observe():
        pass
    r = mon.verdict()
    assert r.busy and "other processes using 1.8 cores" in r.reasons[0]
    quiet = Contention(1, loadavg=lambda: (0.2,) * 3, others=lambda: pytest.fail("read without need"), n_cores=2)
    assert not quiet.busy_before  # a low load is not second-guessed (reading the CPU use costs a second)


def test_the_wait_for_quiet_ends_when_other_processes_stop():
    others = iter([1.9, 1.7, 0.2])
    slept = []
    wait_for_quiet(1, 60, False, "build", loadavg=lambda: (4.0,) * 3, others=lambda: next(others),
                   sleep=slept.append)
    assert len(slept) == 2  # the load average stays high (it decays over minutes); the CPU use fell
    with pytest.raises(BusyMachine, match="other processes using 1.9 cores"):
        wait_for_quiet(1, 0, False, "build", loadavg=lambda: (4.0,) * 3, others=lambda: 1.9)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/stat"), reason="reads Linux /proc/stat")
def test_cpu_of_others_counts_other_processes_not_this_one():
    import threading

    from nas.latency.contention import cpu_of_others

    if cpu_of_others(0.3) > 0.3:
        pytest.skip("other processes use the CPU now: their share would blur both readings")
    stop = time.monotonic() + 1.0
    spinner = threading.Thread(target=lambda: [None for _ in iter(lambda: time.monotonic() < stop, False)])
    spinner.start()  # this process busy on one core
    mine = cpu_of_others(0.6)
    spinner.join()
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<3: pass"])
    try:
        time.sleep(0.3)
        theirs = cpu_of_others(0.6)
    finally:
        spin.kill()
        spin.wait()
    assert mine < 0.5 < theirs, (mine, theirs)
