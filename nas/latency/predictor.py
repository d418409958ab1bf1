"""A latency predictor fitted from whole-network (architecture, latency) pairs alone, for devices where
only end-to-end timing is possible (a phone through an app, a board, a cloud endpoint).

Additive part: one cost per op (op config at input shape, i.e. a LUT entry; ``tie=False``: per site
and op) plus a constant, fitted by robust Huber regression (Huber 1964) on the counts of each op in
each architecture, so outliers of noisy devices don't pull it. Correction: a monotone (isotonic) map
of the additive prediction, kept only when cross-validation on the training pairs says it helps. The
additive part alone is a :class:`LatencyTable` (``to_table``), so FBNet's loss can use it
(cf. HELP, Lee et al. 2021; BRP-NAS, Dudziak et al. 2020, for learned predictors on these devices).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from nas.io import atomic_write_text
from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import FIELDS, today
from nas.latency.metrics import accuracy
from nas.latency.ops import arch_uses, describe, op_key
from nas.latency.table import Entry, LatencyTable


def _name(use, tie: bool) -> str:
    return op_key(use) if tie else f"{use.site}|{op_key(use)}"


class FittedPredictor:
    """``predict(space, arch) = correction(intercept + sum over the arch's ops of coef[op])``."""

    def __init__(self, names: Sequence[str], coef: Sequence[float], intercept: float, tie: bool = True,
                 correction: Optional[Dict[str, List[float]]] = None, meta: Optional[Dict[str, Any]] = None):
        self.names = list(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = float(intercept)
        self.tie = tie
        self.correction = correction  # {"x": [...], "y": [...]}: piecewise-linear monotone map
        self.meta = dict(meta or {})

    # --- features ----------------------------------------------------------------------------
    @staticmethod
    def counts(space, arch, tie: bool = True) -> Counter:
        return Counter(_name(u, tie) for u in arch_uses(space, arch))

    def _row(self, space, arch) -> np.ndarray:
        row = np.zeros(len(self.names))
        for u in arch_uses(space, arch):
            i = self.index.get(_name(u, self.tie))
            if i is None:
                raise LatencyTableError(f"fitted predictor: no cost for {describe(u)}: no training architecture "
                                        f"used it")
            row[i] += 1
        return row

    # --- fitting -----------------------------------------------------------------------------
    @staticmethod
    def _additive(X: np.ndarray, y: np.ndarray, alpha: float):
        from sklearn.linear_model import HuberRegressor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs iteration-limit notes
            model = HuberRegressor(alpha=alpha, max_iter=2000).fit(X, y)
        return model.coef_, float(model.intercept_)

    @staticmethod
    def _isotonic(x: np.ndarray, y: np.ndarray) -> Dict[str, List[float]]:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip").fit(x, y)
        return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}

    @classmethod
    def fit(cls, space, archs: Sequence, latencies: Sequence[float], *, tie: bool = True, alpha: float = 1e-3,
            correction: str = "auto", folds: int = 5, seed: int = 0) -> "FittedPredictor":
        """Fit on ``archs`` of ``space`` with measured ``latencies`` (ms). ``correction``: auto | on | off."""
        y = np.asarray(latencies, dtype=float)
        if len(archs) != len(y) or len(y) < 4:
            raise LatencyTableError(f"fitted predictor: expected at least 4 (arch, latency) pairs, got {len(archs)} "
                                    f"archs and {len(y)} latencies")
        if correction not in ("auto", "on", "off"):
            raise LatencyTableError(f"fitted predictor: correction: expected auto, on or off, got {correction!r}")
        counts = [cls.counts(space, a, tie) for a in archs]
        names = sorted(set().union(*counts))
        index = {n: i for i, n in enumerate(names)}
        X = np.zeros((len(y), len(names)))
        for r, c in enumerate(counts):
            for n, k in c.items():
                X[r, index[n]] = k
        coef, intercept = cls._additive(X, y, alpha)
        use_correction = correction == "on"
        cv = None
        if correction == "auto" and len(y) >= 4 * folds:
            cv = cls._cv_correction(X, y, alpha, folds, seed)
            use_correction = cv["corrected_mape"] < cv["additive_mape"]
        fitted = X @ coef + intercept
        corr = cls._isotonic(fitted, y) if use_correction else None
        meta = {"n_train": int(len(y)), "alpha": alpha, "space": space.name, "date": today(), "cv": cv}
        return cls(names, coef, intercept, tie, corr, meta)

    @classmethod
    def _cv_correction(cls, X, y, alpha, folds, seed) -> Dict[str, float]:
        idx = np.random.default_rng(seed).permutation(len(y))
        add_err, cor_err = [], []
        for k in range(folds):
            held = idx[k::folds]
            train = np.setdiff1d(idx, held)
            coef, b = cls._additive(X[train], y[train], alpha)
            corr = cls._isotonic(X[train] @ coef + b, y[train])
            p = X[held] @ coef + b
            add_err.append(np.abs(p / y[held] - 1))
            cor_err.append(np.abs(np.interp(p, corr["x"], corr["y"]) / y[held] - 1))
        return {"additive_mape": float(np.concatenate(add_err).mean() * 100),
                "corrected_mape": float(np.concatenate(cor_err).mean() * 100)}

    # --- prediction --------------------------------------------------------------------------
    def predict_additive(self, space, arch) -> float:
        return float(self._row(space, arch) @ self.coef + self.intercept)

    def predict(self, space, arch, corrected: bool = True) -> float:
        p = self.predict_additive(space, arch)
        return float(self._correct(np.array([p]))[0]) if corrected else p

    def predict_many(self, space, archs: Sequence, corrected: bool = True) -> np.ndarray:
        p = np.array([self._row(space, a) for a in archs]).reshape(len(archs), -1) @ self.coef + self.intercept
        return self._correct(p) if corrected else p

    def _correct(self, p: np.ndarray) -> np.ndarray:
        return np.interp(p, self.correction["x"], self.correction["y"]) if self.correction else p

    def evaluate(self, space, archs: Sequence, latencies: Sequence[float]) -> Dict[str, Dict[str, float]]:
        additive = self.predict_many(space, archs, False)
        return {"additive": accuracy(additive, latencies), "corrected": accuracy(self._correct(additive), latencies)}

    def to_table(self, fingerprint: Optional[Dict[str, Any]] = None) -> LatencyTable:
        """The additive part as a latency table (entries: fitted per-op costs; ``const_ms``: the intercept;
        costs may be negative: only sums are meaningful). Needs ``tie=True``."""
        if not self.tie:
            raise LatencyTableError("fitted predictor: to_table needs costs per op and shape (fit with tie=True)")
        fp = {k: None for k in FIELDS}
        fp.update(fingerprint or {})
        fp["date"] = fp.get("date") or today()
        entries = {n: Entry(float(c)) for n, c in zip(self.names, self.coef)}
        return LatencyTable(fp, entries, const_ms=self.intercept,
                            meta={"source": f"fitted from {self.meta.get('n_train')} whole-network measurements"})

    # --- files -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {"format": "nas-latency-predictor", "version": 1, "tie": self.tie, "intercept": self.intercept,
                "costs": dict(zip(self.names, self.coef.tolist())), "correction": self.correction, "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FittedPredictor":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            if d.get("format") != "nas-latency-predictor":
                raise ValueError(f"format is {d.get('format')!r}")
            return cls(list(d["costs"]), list(d["costs"].values()), d["intercept"], d["tie"], d.get("correction"),
                       d.get("meta"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise LatencyTableError(f"{path}: expected a fitted latency predictor file "
                                    f"(format 'nas-latency-predictor'): {err}") from None
