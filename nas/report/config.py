"""Structured config of ``python -m nas.report`` (registered in Hydra's ConfigStore; values in conf/report.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore

from nas.checks import ranged


@dataclass
class ReportConf:
    """Which runs and baselines go into the report, how latencies are (re-)timed, and where it is written."""

    # search / train run dirs, Hydra multirun dirs, or directories holding such run dirs; bare
    # arguments on the command line are run dirs too: nas.report DIR1 DIR2 == nas.report 'runs=[DIR1,DIR2]'
    runs: List[str] = field(default_factory=list)
    measure: bool = False  # re-time every net in one interleaved session (false: latencies as recorded)
    threads: int = ranged(1, ge=1)  # intra-op threads of the re-timing
    rounds: int = ranged(20, ge=1)  # interleaved rounds of the re-timing
    min_run_time: float = ranged(0.02, gt=0)  # seconds of torch.utils.benchmark runs per net per round
    baselines: List[str] = field(default_factory=list)  # registered baselines without a train run (timed only)
    variant: str = "cifar"  # form of those baselines: cifar | imagenet
    out: Optional[str] = None  # output directory; null: outputs/report/<date>_<time>
    title: Optional[str] = None  # title of the table and plot; null: "accuracy vs latency"


def register_configs() -> None:
    ConfigStore.instance().store(name="report_schema", node=ReportConf)
