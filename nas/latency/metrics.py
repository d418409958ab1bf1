"""How well predicted latencies match measured ones: MAPE, share within +-10%, Kendall's tau."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from scipy.stats import kendalltau


def accuracy(predicted: Sequence[float], measured: Sequence[float], band: float = 0.10) -> Dict[str, float]:
    """``mape`` and ``max_ape`` (%), ``within`` (% of archs with relative error <= ``band``),
    ``kendall_tau`` (rank agreement, scipy's tau-b) and ``n``."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if p.shape != m.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"accuracy: expected two equally long non-empty 1-d sequences, got {p.shape} and {m.shape}")
    ape = np.abs(p / m - 1.0)
    tau = float(kendalltau(p, m).statistic) if len(p) > 1 else float("nan")
    return {"n": int(len(p)), "mape": float(ape.mean() * 100), "max_ape": float(ape.max() * 100),
            "within": float((ape <= band + 1e-12).mean() * 100), "kendall_tau": tau}


def format_accuracy(name: str, acc: Dict[str, float]) -> str:
    return (f"{name:<12s} MAPE {acc['mape']:6.2f}%  within +-10% {acc['within']:6.1f}%  Kendall tau "
            f"{acc['kendall_tau']:.3f}  max error {acc['max_ape']:.1f}%  (n={acc['n']})")
