"""FBNet's differentiable search (Wu et al. 2019, "FBNet", Sec. 3.3-3.4), a registered strategy.

Weights ``w`` (SGD with momentum, cosine schedule) train on the weight split; architecture logits
``theta`` (Adam) train on the architecture split, epoch by epoch, after weights-only warm-up epochs;
both with the toolkit's one training loop (``nas.loops.train_epoch``). The Gumbel-softmax temperature
starts at ``tau0`` and decays by ``tau_decay`` per epoch. The loss is

    CE(a, w_a) * alpha * log(LAT(a) / u) ** beta                       (no target; FBNet eq. 2, u: the
                                                                       cheapest arch's latency / e)
    CE(a, w_a) + penalty * relu(LAT(a) / target_ms - 1)                (with latency.target_ms)

with ``LAT`` the expected latency under the current Gumbel-softmax weights from the latency source's
per-decision costs (``const + sum_l <weights_l, costs_l>``, differentiable in theta). Hard
single-path sampling (only the sampled op runs) by default; soft mixing as in the paper as an option.
The found arch (``FBNetOptions.derive``): with a latency target the most probable arch under theta
whose latency is within 5% below the target; without one, as FBNet's paper picks among archs
sampled from the final distribution, the one of theta's argmax and the ``samples`` draws with the
lowest search loss on the validation split (shared weights: ``CE * alpha * log(LAT) ** beta``), a
sample only if its loss is lower than the argmax's by more than ``pick_margin`` standard errors of the
per-image difference (by default 2: a sample better by noise does not displace what theta settled on); or
theta's argmax per decision. (After a short search theta is still nearly uniform and its argmax is
a corner of the space, e.g. every layer's cheapest op, that the supernet never trained as a whole.)

As a job (``search(job)``): checkpoint every epoch (a resumed job continues exactly), then
``arch.yaml`` (the found arch), ``samples/sample_<k>.yaml`` (the most likely distinct archs of
``samples`` draws from the final distribution) and the :class:`~nas.results.SearchSummary`.

Data-parallel under torchrun (``nas.distributed``): ``batch_size`` is the global batch, each rank
trains on its share; DDP averages the gradients (theta's too: it wraps the whole supernet; each
optimiser steps only its own parameters) and every rank draws the same Gumbel noise (same seed
stream); with synchronised BatchNorms (``device.sync_bn=true``) N processes compute one process's
epoch. Rank 0 writes.
"""

from __future__ import annotations

import random
import shutil
import time
import warnings
from pathlib import Path
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from nas import distributed as dist
from nas.checks import ranged
from nas.data import BatchLoader, SearchData
from nas.io import atomic_torch_save
from nas.loops import NonFiniteLoss, Recipe, batch_to, recalibrate_bn, to_device, train_epoch
from nas.progress import progress as progress_bar
from nas.results import SearchSummary
from nas.space import Arch
from nas.strategies.base import SearchError
from nas.strategies.fbnet_arch import (choose_by_gain, most_probable_within, paired_gain, probability_figure,
                                      read_checkpoint, sample_archs)
from nas.strategies.fbnet_latency import LatencyModel, fbnet_loss
from nas.strategies.job import meet_target_notes
from nas.strategies.registry import STRATEGIES
from nas.supernet import build_supernet, supernet_modes
from nas.supernet.training import SupernetOptions, SupernetTrainer

DERIVE_RULES = ("auto", "argmax", "target", "sampled")  # FBNetOptions.derive

CHECKPOINT = "checkpoint.pt"


@dataclass
class FBNetOptions:
    # valid ranges beside the defaults (nas.checks; checked where the search's config is resolved)
    epochs: int = ranged(6, ge=1)
    warmup_epochs: int = ranged(2, ge=0)  # and < epochs
    batch_size: int = ranged(64, ge=1)
    mode: str = "hard"  # hard (single path, straight-through) | soft (all candidates, FBNet's)
    w_lr: float = ranged(0.05, ge=0)
    w_momentum: float = ranged(0.9, ge=0, lt=1)
    w_weight_decay: float = ranged(1e-4, ge=0)
    theta_lr: float = ranged(0.01, ge=0)
    theta_weight_decay: float = ranged(5e-4, ge=0)
    tau0: float = ranged(5.0, gt=0)
    tau_decay: float = ranged(0.956, gt=0, le=1)
    alpha: float = ranged(0.2, gt=0)
    beta: float = ranged(0.6, ge=0)
    samples: int = ranged(6, ge=0)
    # derive=sampled: a sample displaces theta's argmax only if its validation loss is lower by more than
    # this many standard errors of the per-image difference (paired, same images); 0: the lowest loss wins
    pick_margin: float = ranged(2.0, ge=0)
    max_steps_per_epoch: Optional[int] = ranged(None, ge=1)  # cap for smoke runs
    # the found arch: argmax of theta per layer; ("target") the most probable arch under theta whose table
    # latency is within 5% below the target; ("sampled") of the argmax and the `samples` draws, the lowest
    # search loss on the validation split; auto: target when a latency target is set, else sampled
    derive: str = "auto"
    # hard mode: the weights-only warm-up epochs are the shared supernet training (the `supernet` config
    # section, cached: a search after a oneshot-evaluator run with the same options reuses it)
    warm_start: bool = True


class FBNetSearch:
    """One FBNet search's training: supernet, optimisers, an epoch loop, checkpointable state."""

    def __init__(self, supernet, data: SearchData, latency: LatencyModel, opts: FBNetOptions, *,
                 seed: int = 0, device: str = "cpu", writer=None, augment: bool = False, amp: str = "auto"):
        dist.check_divisible(opts.batch_size, "method.batch_size")
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
        self.recipe = Recipe(epochs=opts.epochs, batch_size=opts.batch_size, lr=opts.w_lr, label_smoothing=0.0,
                             max_steps_per_epoch=opts.max_steps_per_epoch, amp=amp)
        # both epochs train through DDP (one path per step: unused parameters). A backward pass of the raw
        # supernet between DDP's iterations (theta through its own all-reduce) breaks DDP's bookkeeping of
        # used parameters in the next weight epoch, so theta's gradients are DDP's too
        self.train_net = dist.prepare(self.net, device, find_unused_parameters=True)
        self.derive_rule()  # a bad method.derive fails before any training
        self.epoch = 0
        self.bn_batches = 4
        self.history: List[Dict[str, float]] = []
        # validate()'s figures for these weights, with this process's per-image cross-entropies
        self._validated: Dict[tuple, Tuple[float, float, torch.Tensor]] = {}

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
        self._validated.clear()

    def skip_warmup(self) -> None:
        """Start after the weights-only warm-up epochs (their training was done elsewhere: the shared
        supernet trainer); the weights' schedule moves on as if they had run here."""
        with warnings.catch_warnings():  # no optimizer step yet: on purpose, the schedule moves on
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            for _ in range(self.epoch, self.opts.warmup_epochs):
                self.w_sched.step()
        self.epoch = max(self.epoch, self.opts.warmup_epochs)

    # --- training ---------------------------------------------------------------------------------
    def tau(self, epoch: int) -> float:
        return self.opts.tau0 * self.opts.tau_decay ** epoch

    def _epoch(self, phase: str, loader: BatchLoader, opt, loss_fn=None) -> Dict[str, float]:
        e = self.epoch
        try:
            return train_epoch(self.train_net, loader, opt, self.recipe, e, self.device, loss_fn=loss_fn,
                               desc=f"epoch {e + 1} {phase}")
        except NonFiniteLoss as err:
            raise SearchError(f"{'architecture' if phase == 'theta' else 'weight'} {err}: stopping (lower "
                              f"method.w_lr / method.theta_lr, or check the data)") from None

    def run_epoch(self) -> Dict[str, float]:
        e, opts = self.epoch, self.opts
        self._validated.clear()  # the weights change
        tau = self.tau(e)
        dist.sync_rng()  # the same Gumbel draws on every rank
        self.net.train().set_mode(opts.mode, tau=tau)
        w = self._epoch("weights", self.w_loader, self.w_opt)
        self.w_sched.step()
        metrics = {"epoch": e + 1, "tau": tau, "w_loss": w["train_loss"], "w_acc": w["train_acc"]}
        if e >= opts.warmup_epochs:
            sums = {"ce": 0.0, "lat": 0.0, "n": 0}

            def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                ce = F.cross_entropy(out, y)
                lat = self.latency.expected(self.net)
                sums["ce"] += ce.item() * len(y)
                sums["lat"] += lat.item() * len(y)
                sums["n"] += len(y)
                return fbnet_loss(ce, lat.to(ce.device), opts, self.latency)

            a = self._epoch("theta", self.a_loader, self.t_opt, loss_fn)
            ce, lat, n = dist.all_sum(sums["ce"], sums["lat"], sums["n"])  # the global batches' figures
            n = max(1, n)
            metrics.update(a_loss=a["train_loss"], a_ce=ce / n, a_lat_ms=lat / n)
        metrics["expected_latency_ms"] = self.latency.of_probs(self.net)
        metrics["val_acc"] = self.evaluate(self.derive())
        self.epoch += 1
        self.history.append(metrics)
        self._log(metrics)
        return metrics

    def evaluate(self, arch: Arch) -> float:
        """Validation accuracy of ``arch``'s path with the shared weights (see :meth:`validate`)."""
        return self.validate(arch)[0]

    def validation_loss(self, arch: Arch) -> float:
        """The search's loss of ``arch`` on the validation split: its shared-weight cross-entropy with its
        table latency, as :func:`fbnet_loss` weighs them in training."""
        return float(self._search_loss(torch.tensor(self.validate(arch)[1], dtype=torch.float64), arch))

    def image_losses(self, arch: Arch) -> torch.Tensor:
        """The search's loss of ``arch`` on each of this process's validation images (the same images, in
        the same order, for every arch: differences between archs are paired); their mean over every
        process's images is :meth:`validation_loss` (the loss is linear in the cross-entropy)."""
        self.validate(arch)
        return self._search_loss(self._validated[_choices(arch)][2], arch)

    def _search_loss(self, ce: torch.Tensor, arch: Arch) -> torch.Tensor:
        lat = torch.tensor(self.latency.of_arch(self.net, arch), dtype=torch.float64)
        return fbnet_loss(ce, lat, self.opts, self.latency)

    @torch.no_grad()
    def validate(self, arch: Arch) -> Tuple[float, float]:
        """Validation accuracy and mean cross-entropy of ``arch``'s path with the shared weights, after
        re-estimating BatchNorm statistics for that path on a few weight-split batches (the supernet's
        running statistics mix every path). The supernet's own statistics and the global RNG are left
        as they were. Computed once per arch for the current weights (the found arch and the samples are
        scored by :meth:`pick` and again for the summary)."""
        key = _choices(arch)
        if key not in self._validated:
            self._validated[key] = self._validate(arch)
        return self._validated[key][:2]

    @torch.no_grad()
    def _validate(self, arch: Arch) -> Tuple[float, float, torch.Tensor]:
        bn_state = {k: v.clone() for k, v in self.net.state_dict().items() if "running" in k or "num_batches" in k}
        rng = torch.get_rng_state()
        self.net.set_arch(arch)
        loader = BatchLoader(self.data.weight, self.opts.batch_size, seed=self.seed + 7)
        recalibrate_bn(self.net, [(x, y) for _, (x, y) in zip(range(self.bn_batches), loader)], self.device)
        correct = 0.0
        ce = [torch.zeros(0, dtype=torch.float64)]
        for x, y in dist.local_loader(self.v_loader):
            if len(y):
                out = self.net(batch_to(x, self.device)).float().cpu()
                correct += (out.argmax(1) == y).sum().item()
                ce.append(F.cross_entropy(out, y, reduction="none").double())
        ce_local = torch.cat(ce)
        correct, loss, seen = dist.all_sum(correct, ce_local.sum().item(), len(ce_local))
        self.net.load_state_dict(bn_state, strict=False)
        torch.set_rng_state(rng)
        self.net.train()
        return correct / max(1, seen), loss / max(1, seen), ce_local

    # --- results ----------------------------------------------------------------------------------
    def derive_rule(self) -> str:
        rule = self.opts.derive
        if rule not in DERIVE_RULES:
            raise SearchError(f"method.derive={rule}: expected {', '.join(DERIVE_RULES)}")
        if rule == "target" and not self.latency.target_ms:
            raise SearchError("method.derive=target needs a latency target (latency.target_ms)")
        return ("target" if self.latency.target_ms else "sampled") if rule == "auto" else rule

    def derive(self) -> Arch:
        """The arch theta points at now (each epoch's ``val_acc`` is its): with ``target`` the most probable
        arch near the target (:func:`~nas.strategies.fbnet_arch.most_probable_within`), else the argmax
        per decision. Argmax ignores how the choices add up: after a short search whose theta moved
        little it can land far from anything trained (e.g. every layer's cheapest op); the ``sampled``
        rule's final pick (:meth:`pick`) guards against that."""
        if self.derive_rule() != "target":
            return self.net.derive()
        return self.derive_at(float(self.latency.target_ms))

    def derive_at(self, target_ms: float, low: float = 0.95) -> Arch:
        """The most probable arch under theta whose table latency lies in [low, 1] x ``target_ms``."""
        return most_probable_within(self.net.mixed_ops(), self.latency.costs, self.latency.const_ms, target_ms,
                                    self.net.space, low)

    def entropies(self) -> Dict[str, float]:
        return {l: float(-(p * p.clamp_min(1e-12).log()).sum()) for l, p in self.net.probabilities().items()}

    def samples(self, k: int, seed: int) -> List[Tuple[Arch, float]]:
        """Up to ``k`` distinct archs drawn from the final distribution, most likely first, with log-probs."""
        return sample_archs(self.net, k, seed)

    def weigh(self, samples: Sequence[Arch]) -> List[Tuple[Arch, float, float]]:
        """Theta's argmax and the distinct ``samples``, each with its gain over the argmax (how much lower
        its :meth:`image_losses` are, paired per image) and that gain's standard error; the argmax first
        (0, 0)."""
        first = self.derive()
        base = self.image_losses(first)
        others = [a for a in samples if a.choices != first.choices]
        return [(first, 0.0, 0.0)] + [(a, *paired_gain(base, self.image_losses(a))) for a in others]

    def pick(self, samples: Sequence[Arch]) -> Tuple[Arch, Optional[str]]:
        """The found arch, and how it was picked: :meth:`derive`'s, or with the ``sampled`` rule the one of
        it and ``samples`` with the lowest :meth:`validation_loss`, where a sample displaces the argmax only
        if it beats it by more than ``pick_margin`` standard errors of the paired per-image difference (a
        sample that is better by noise on a thousand images is not better: the argmax is what theta
        settled on)."""
        if self.derive_rule() != "sampled" or not samples:
            return self.derive(), None
        pool = self.weigh(samples)
        gains = [(gain, se) for _, gain, se in pool[1:]]
        best = choose_by_gain(gains, self.opts.pick_margin)
        loss = self.validation_loss
        if best:
            verdict = f"sample {best}, lower by {gains[best - 1][0]:.4f} +- {gains[best - 1][1]:.4f}"
        else:
            top = max(range(len(gains)), key=lambda i: gains[i][0], default=None)
            verdict = ("the argmax" if top is None or gains[top][0] <= 0 else
                       f"the argmax; sample {top + 1} lower by {gains[top][0]:.4f} +- {gains[top][1]:.4f}, "
                       f"within the margin")
        note = (f"found arch: the lowest search loss on the validation split (shared weights) of theta's "
                f"argmax ({loss(pool[0][0]):.4f}) and {len(pool) - 1} samples of the final distribution, a sample "
                f"only if lower by more than {self.opts.pick_margin:g} standard errors (best "
                f"{loss(pool[best][0]):.4f}, {verdict})")
        return pool[best][0], note

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




def _choices(arch: Arch) -> tuple:
    """A hashable key of ``arch``'s choices."""
    return tuple(sorted(arch.choices.items()))


@STRATEGIES.register("fbnet")
class FBNet:
    """FBNet as a search method: ``FBNet(space, seed, **FBNetOptions)``, ``search(job)``."""

    name = "fbnet"
    objective = "found.accuracy"  # the summary figure a sweep optimises by default
    resume_marker = CHECKPOINT
    OPTIONS = tuple(f.name for f in fields(FBNetOptions))

    def __init__(self, space: Any, seed: int = 0, **options: Any):
        modes = supernet_modes(space)
        self.opts = FBNetOptions(**options)
        if self.opts.mode not in modes or self.opts.mode == "fixed":
            raise SearchError(f"method=fbnet (method.mode={self.opts.mode}) needs a supernet that mixes candidates "
                              f"per decision; the supernet of space '{space.name}' ({space.kind}) runs "
                              f"{', '.join(modes)} only: use a controller (method=mnasnet, evolution, optuna, random)")
        self.space, self.seed = space, seed

    @classmethod
    def from_config(cls, space: Any, seed: int, method: Mapping[str, Any]) -> "FBNet":
        return cls(space, seed, **{k: method[k] for k in cls.OPTIONS if k in method})

    @classmethod
    def check_resume(cls, out_dir, space: Any, seed: int, method: Mapping[str, Any]) -> None:
        """Before any work: the run's checkpoint must be readable and of this search."""
        read_checkpoint(Path(out_dir) / CHECKPOINT, space, int(method.get("epochs", FBNetOptions.epochs)))

    def latency_model(self, job) -> LatencyModel:
        target = job.check_target()
        const, vectors = job.latency.cost_vectors(self.space, calibrated=job.settings.calibrated)
        penalty = job.settings.penalty * (10.0 if job.settings.constraint == "hard" else 1.0)
        return LatencyModel(const, {k: torch.tensor(v) for k, v in vectors.items()}, target, penalty)

    def warm_start(self, net, job) -> Optional[str]:
        """Hard mode with ``warm_start`` and warm-up epochs: train the supernet's weights with the shared
        trainer (or load its cached artefact) instead of FBNet's own warm-up epochs; returns a note."""
        opts = self.opts
        if opts.mode != "hard" or not opts.warm_start or opts.warmup_epochs < 1 or job.resume:
            return None
        trainer = SupernetTrainer(self.space, job.data, SupernetOptions.of(job.supernet), seed=self.seed,
                                  device=job.device, augment=job.augment, amp=getattr(job, "amp", "auto"))
        trainer.train(to_device(net, job.device))
        how = f"reused from {trainer.cache_path}" if trainer.reused else f"trained in {trainer.seconds:.0f} s, " \
              f"cached as {trainer.cache_path}"
        return f"weights warm-started by the shared supernet training ({how}) instead of {opts.warmup_epochs} " \
               f"warm-up epochs"

    def search(self, job) -> SearchSummary:
        opts, out = self.opts, job.out_dir
        supernet_opts = SupernetOptions.of(job.supernet)
        latency = self.latency_model(job)  # a bad target fails before any training
        net = build_supernet(self.space, **supernet_opts.build())
        warm = self.warm_start(net, job)
        search = FBNetSearch(net, job.data, latency, opts, seed=self.seed,
                             device=job.device, writer=job.writer, augment=job.augment,
                             amp=getattr(job, "amp", "auto"))
        search.bn_batches = supernet_opts.bn_batches
        if warm:
            search.skip_warmup()
        before = 0.0  # epochs' seconds of the run this one resumes
        if job.resume:
            state = read_checkpoint(out / CHECKPOINT, self.space, opts.epochs, supernet_opts.build())
            try:
                search.load_state_dict(state["search"])
            except (RuntimeError, ValueError, KeyError, TypeError) as err:
                raise SearchError(str(out / CHECKPOINT), "search", "the state of this search",
                                  f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:100]}") from None
            before = float(state.get("seconds", 0.0))
        start = search.epoch
        t0 = time.perf_counter()
        bar = progress_bar(range(search.epoch, opts.epochs), desc="search", unit="epoch", initial=search.epoch,
                           total=opts.epochs, enabled=dist.is_main())
        for _ in bar:
            metrics = search.run_epoch()
            bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}", lat=f"{metrics['expected_latency_ms']:.2f}ms")
            if dist.is_main():  # the raw supernet's state: resumable at any world size
                atomic_torch_save({"search": search.state_dict(), "space": self.space.name, "epochs": opts.epochs,
                                   "supernet": supernet_opts.build(), "seconds": before + time.perf_counter() - t0},
                                  out / CHECKPOINT)
        return self.summary(search, job, start, before, [warm] if warm else [])

    def summary(self, search: FBNetSearch, job, start: int, before: float, notes: List[str]) -> SearchSummary:
        out = job.out_dir
        main = dist.is_main()  # every rank evaluates (a collective); rank 0 writes
        draws = search.samples(self.opts.samples, self.seed)
        found_arch, how = search.pick([arch for arch, _ in draws])
        notes = notes + ([how] if how else [])
        rounds: List[Dict[str, float]] = []
        if search.derive_rule() == "target":  # checked on the device, re-derived where the table was off
            derived = found_arch
            found_arch, rounds = job.meet_target(found_arch, search.derive_at)
            notes = notes + meet_target_notes(rounds, job.settings.target_ms, found_arch.choices != derived.choices)
        archs = [found_arch]
        found = job.figures(archs[0], archs[0].save(out / "arch.yaml") if main else out / "arch.yaml",
                            accuracy=search.evaluate(archs[0]), **({"meet_target": rounds} if rounds else {}))
        if main:
            shutil.rmtree(out / "samples", ignore_errors=True)
        samples = []
        for k, (arch, logp) in enumerate(draws):
            path = out / "samples" / f"sample_{k}.yaml"
            path = arch.save(path) if main else path
            samples.append(job.figures(arch, path, accuracy=search.evaluate(arch), log_prob=logp))
            archs.append(arch)
        notes = notes + job.measure(archs, [found, *samples])
        return SearchSummary(space=self.space.name, method=self.name, found=found,
                             accuracy_kind="shared weights (fbnet search)", candidates=samples,
                             candidates_are="samples of the final distribution", target_ms=job.settings.target_ms,
                             derive=search.derive_rule(), resumed=start if job.resume else None,
                             seconds_before_resume=round(before, 1) if before > 0 else None,
                             history=search.history, notes=notes)
