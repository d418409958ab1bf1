"""FBNet's differentiable search (Wu et al. 2019, "FBNet", Sec. 3.3-3.4).

Weights ``w`` (SGD with momentum, cosine schedule) train on the weight split; architecture logits
``theta`` (Adam) train on the architecture split, epoch by epoch, after weights-only warm-up epochs.
The Gumbel-softmax temperature starts at ``tau0`` and decays by ``tau_decay`` per epoch. The loss is

    CE(a, w_a) * alpha * log(LAT(a)) ** beta                           (no target; FBNet eq. 2)
    CE(a, w_a) + penalty * relu(LAT(a) / target_ms - 1)                (with latency.target_ms)

with ``LAT`` the expected latency under the current Gumbel-softmax weights from the lookup table
(``const + sum_l <weights_l, costs_l>``, differentiable in theta). Hard single-path sampling (only the
sampled op runs) by default; soft mixing as in the paper as an option. The found arch is theta's
argmax per layer, or with a latency target the most probable arch under theta whose table latency is
within 5% below the target (``FBNetOptions.derive``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from nas.data import BatchLoader, SearchData
from nas.space import Arch
from nas.supernet import Supernet
from nas.training import batch_to, recalibrate_bn, to_device


class SearchError(RuntimeError):
    """A search that cannot go on (NaN loss, impossible latency target, bad checkpoint)."""


@dataclass
class FBNetOptions:
    epochs: int = 6
    warmup_epochs: int = 2
    batch_size: int = 64
    mode: str = "hard"  # hard (single path, straight-through) | soft (all candidates, FBNet's)
    w_lr: float = 0.05
    w_momentum: float = 0.9
    w_weight_decay: float = 1e-4
    theta_lr: float = 0.01
    theta_weight_decay: float = 5e-4
    tau0: float = 5.0
    tau_decay: float = 0.956
    alpha: float = 0.2
    beta: float = 0.6
    samples: int = 6
    max_steps_per_epoch: Optional[int] = None  # cap for smoke runs
    # the found arch: argmax of theta per layer, or ("target") the most probable arch under theta whose
    # table latency is within 5% below the target; auto: target when a latency target is set, else argmax
    derive: str = "auto"


@dataclass
class LatencyModel:
    """Per-layer candidate costs (ms) in the supernet's candidate order plus a constant."""

    const_ms: float
    costs: Dict[str, torch.Tensor]
    target_ms: Optional[float] = None
    penalty: float = 2.0

    def expected(self, supernet: Supernet) -> torch.Tensor:
        total = torch.tensor(self.const_ms)
        for label, mixed in supernet.mixed_ops().items():
            if mixed.weights is None:
                raise SearchError("expected latency needs a soft or hard forward pass first")
            total = total + (mixed.weights * self.costs[label].to(mixed.weights.device)).sum().cpu()
        return total

    def of_probs(self, supernet: Supernet) -> float:
        """Latency expected under the current (noise-free) distribution."""
        return self.const_ms + sum(float((m.probs().detach().cpu() * self.costs[l]).sum())
                                   for l, m in supernet.mixed_ops().items())


def fbnet_loss(ce: torch.Tensor, lat: torch.Tensor, opts: FBNetOptions, latency: LatencyModel) -> torch.Tensor:
    if latency.target_ms:
        return ce + latency.penalty * F.relu(lat / latency.target_ms - 1.0)
    # log(LAT) must stay positive for the fractional power: latencies below 1 ms are clamped to 1.001 ms
    return ce * opts.alpha * torch.log(lat.clamp_min(1.001)) ** opts.beta


class FBNetSearch:
    """One FBNet search: state, an epoch loop, checkpointable."""

    def __init__(self, supernet: Supernet, data: SearchData, latency: LatencyModel, opts: FBNetOptions, *,
                 seed: int = 0, device: str = "cpu", writer=None, augment: bool = False):
        self.net, self.data, self.latency, self.opts = to_device(supernet, device), data, latency, opts
        self.seed, self.device, self.writer = seed, torch.device(device), writer
        self.w_opt = torch.optim.SGD(list(supernet.weight_parameters()), lr=opts.w_lr, momentum=opts.w_momentum,
                                     weight_decay=opts.w_weight_decay, nesterov=True)
        self.w_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, T_max=max(1, opts.epochs))
        self.t_opt = torch.optim.Adam(supernet.arch_parameters(), lr=opts.theta_lr,
                                      weight_decay=opts.theta_weight_decay)
        self.w_loader = BatchLoader(data.weight, opts.batch_size, augment=augment, seed=seed, drop_last=True)
        self.a_loader = BatchLoader(data.arch, opts.batch_size, augment=augment, seed=seed + 1, drop_last=True)
        self.v_loader = BatchLoader(data.val, 256, shuffle=False)
        self.derive_rule()  # a bad method.derive fails before any training
        self.epoch = 0
        self.bn_batches = 4
        self.history: List[Dict[str, float]] = []

    # --- checkpoint -------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {"epoch": self.epoch, "supernet": self.net.state_dict(), "w_opt": self.w_opt.state_dict(),
                "w_sched": self.w_sched.state_dict(), "t_opt": self.t_opt.state_dict(),
                "torch_rng": torch.get_rng_state(), "python_rng": list(random.getstate()[1]),
                "history": self.history}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.net.load_state_dict(state["supernet"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.w_sched.load_state_dict(state["w_sched"])
        self.t_opt.load_state_dict(state["t_opt"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate((3, tuple(state["python_rng"]), None))
        self.epoch, self.history = int(state["epoch"]), list(state["history"])

    # --- training ---------------------------------------------------------------------------------
    def tau(self, epoch: int) -> float:
        return self.opts.tau0 * self.opts.tau_decay ** epoch

    def _steps(self, loader: BatchLoader):
        cap = self.opts.max_steps_per_epoch
        for step, batch in enumerate(loader):
            if cap is not None and step >= cap:
                break
            yield step, batch

    def _check(self, loss: torch.Tensor, phase: str, epoch: int, step: int) -> None:
        if not torch.isfinite(loss):
            raise SearchError(f"{phase} loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}: stopping "
                              f"(lower method.w_lr / method.theta_lr, or check the data)")

    def run_epoch(self) -> Dict[str, float]:
        e, opts = self.epoch, self.opts
        tau = self.tau(e)
        self.net.train().set_mode(opts.mode, tau=tau)
        self.w_loader.set_epoch(e)
        w_loss = w_correct = w_seen = 0.0
        for step, (x, y) in tqdm(list(self._steps(self.w_loader)), desc=f"epoch {e + 1} weights", leave=False,
                                 disable=None):
            x, y = batch_to(x, self.device), y.to(self.device)
            out = self.net(x)
            loss = F.cross_entropy(out, y)
            self._check(loss, "weight", e, step)
            self.w_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.w_opt.step()
            w_loss += loss.item() * len(y)
            w_correct += (out.argmax(1) == y).sum().item()
            w_seen += len(y)
        self.w_sched.step()
        metrics = {"epoch": e + 1, "tau": tau, "w_loss": w_loss / max(1, w_seen), "w_acc": w_correct / max(1, w_seen)}
        if e >= opts.warmup_epochs:
            self.a_loader.set_epoch(e)
            a_loss = a_ce = a_lat = a_seen = 0.0
            for step, (x, y) in tqdm(list(self._steps(self.a_loader)), desc=f"epoch {e + 1} theta", leave=False,
                                     disable=None):
                x, y = batch_to(x, self.device), y.to(self.device)
                ce = F.cross_entropy(self.net(x), y)
                lat = self.latency.expected(self.net)
                loss = fbnet_loss(ce, lat.to(ce.device), opts, self.latency)
                self._check(loss, "architecture", e, step)
                self.t_opt.zero_grad(set_to_none=True)
                self.w_opt.zero_grad(set_to_none=True)
                loss.backward()
                self.t_opt.step()
                a_loss += loss.item() * len(y)
                a_ce += ce.item() * len(y)
                a_lat += lat.item() * len(y)
                a_seen += len(y)
            metrics.update(a_loss=a_loss / max(1, a_seen), a_ce=a_ce / max(1, a_seen), a_lat_ms=a_lat / max(1, a_seen))
        metrics["expected_latency_ms"] = self.latency.of_probs(self.net)
        metrics["val_acc"] = self.evaluate(self.derive())
        self.epoch += 1
        self.history.append(metrics)
        self._log(metrics)
        return metrics

    @torch.no_grad()
    def evaluate(self, arch: Arch) -> float:
        """Validation accuracy of ``arch``'s path with the shared weights, after re-estimating BatchNorm
        statistics for that path on a few weight-split batches (the supernet's running statistics mix
        every path). The supernet's own statistics and the global RNG are left as they were."""
        bn_state = {k: v.clone() for k, v in self.net.state_dict().items() if "running" in k or "num_batches" in k}
        rng = torch.get_rng_state()
        self.net.set_arch(arch)
        loader = BatchLoader(self.data.weight, self.opts.batch_size, seed=self.seed + 7)
        recalibrate_bn(self.net, [(x, y) for _, (x, y) in zip(range(self.bn_batches), loader)], self.device)
        correct = seen = 0
        for x, y in self.v_loader:
            correct += (self.net(batch_to(x, self.device)).argmax(1).cpu() == y).sum().item()
            seen += len(y)
        self.net.load_state_dict(bn_state, strict=False)
        torch.set_rng_state(rng)
        self.net.train()
        return correct / max(1, seen)

    # --- results ----------------------------------------------------------------------------------
    def derive_rule(self) -> str:
        rule = self.opts.derive
        if rule not in ("auto", "argmax", "target"):
            raise SearchError(f"method.derive={rule}: expected auto, argmax or target")
        if rule == "target" and not self.latency.target_ms:
            raise SearchError("method.derive=target needs a latency target (latency.target_ms)")
        return "target" if rule == "auto" and self.latency.target_ms else ("argmax" if rule == "auto" else rule)

    def derive(self) -> Arch:
        """The found architecture (see ``FBNetOptions.derive``). Argmax per layer ignores how the layers'
        choices add up: after a short search whose theta moved little it can land far from the target
        (e.g. every layer's cheapest op). ``target``: the most probable arch under theta whose table
        latency lies in [0.95, 1.0] x target (else the most probable one below it), exactly, by dynamic
        programming over latency bins of target / 2000 (a multiple-choice knapsack)."""
        if self.derive_rule() == "argmax":
            return self.net.derive()
        target = float(self.latency.target_ms)
        width = target / 2000
        ops = self.net.mixed_ops()
        labels = list(ops)
        n_bins = int(round(target / width)) + 1
        best = np.full(n_bins, -np.inf)
        start = int(round(self.latency.const_ms / width))
        if start < n_bins:
            best[start] = 0.0
        back = []
        for label in labels:
            logp = ops[label].probs().detach().double().log().cpu().numpy()
            cost = np.rint(self.latency.costs[label].double().cpu().numpy() / width).astype(int)
            new, pick = np.full(n_bins, -np.inf), np.full(n_bins, -1)
            for c, (lp, cb) in enumerate(zip(logp, cost)):
                if cb >= n_bins:
                    continue
                cand = np.full(n_bins, -np.inf)
                cand[cb:] = best[: n_bins - cb] + lp
                better = cand > new
                new[better], pick[better] = cand[better], c
            best = new
            back.append((pick, cost))
        lo = int(np.ceil(0.95 * target / width))
        window = best[lo:]
        b = lo + int(window.argmax()) if np.isfinite(window).any() else int(best.argmax())
        if not np.isfinite(best[b]):
            return self.net.derive()  # nothing below the target (latency_model checks it cannot happen)
        choices = {}
        for label, (pick, cost) in zip(reversed(labels), reversed(back)):
            c = int(pick[b])
            choices[label] = ops[label].names[c]
            b -= int(cost[c])
        return self.net.space.make_arch(choices)

    def entropies(self) -> Dict[str, float]:
        return {l: float(-(p * p.clamp_min(1e-12).log()).sum()) for l, p in self.net.probabilities().items()}

    def samples(self, k: int, seed: int) -> List[Tuple[Arch, float]]:
        """Up to ``k`` distinct archs drawn from the final distribution, most likely first, with log-probs."""
        probs = self.net.probabilities()
        g = torch.Generator().manual_seed(seed)
        seen: Dict[Tuple, Tuple[Arch, float]] = {}
        for _ in range(50 * k):
            choices, logp = {}, 0.0
            for label, p in probs.items():
                i = int(torch.multinomial(p, 1, generator=g))
                choices[label] = self.net.mixed_ops()[label].names[i]
                logp += math.log(float(p[i]))
            key = tuple(choices.values())
            if key not in seen:
                seen[key] = (self.net.space.make_arch(choices), logp)
            if len(seen) >= k:
                break
        return sorted(seen.values(), key=lambda t: -t[1])

    def _log(self, m: Dict[str, float]) -> None:
        if self.writer is None:
            return
        step = int(m["epoch"])
        for key, value in m.items():
            if key != "epoch":
                self.writer.add_scalar(f"search/{key}", value, step)
        ent = self.entropies()
        for label, h in ent.items():
            self.writer.add_scalar(f"entropy/{label}", h, step)
        self.writer.add_scalar("search/mean_entropy", sum(ent.values()) / max(1, len(ent)), step)
        self.writer.add_figure("theta/probabilities", probability_figure(self.net), step)


def probability_figure(net: Supernet):
    """Heat map of op probabilities per layer (rows: layers, columns: candidates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = net.probabilities()
    labels = list(probs)
    names = net.mixed_ops()[labels[0]].names
    width = max(len(p) for p in probs.values())
    grid = torch.zeros(len(labels), width)
    for i, p in enumerate(probs.values()):
        grid[i, : len(p)] = p
    fig, ax = plt.subplots(figsize=(1 + 0.45 * width, 1 + 0.25 * len(labels)))
    im = ax.imshow(grid.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig
