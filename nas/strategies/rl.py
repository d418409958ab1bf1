"""MNASNet's RL controller (Tan et al. 2019, "MnasNet", Sec. 4.2; the recurrent policy of Zoph & Le 2017).

An LSTM emits the space's decisions one by one: its input at step ``t`` is the embedding of the choice
made at step ``t - 1`` (a learned start token at ``t = 0``) and a softmax head per decision maps the
hidden state to that decision's choices. Works on any space (FBNet's layer-wise, MNASNet's factorized).

Training: ``algorithm='ppo'`` (the paper's; Schulman et al. 2017) collects ``batch_size`` told archs,
then runs ``ppo_epochs`` passes of the clipped objective ``min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)``
with ``rho`` the probability ratio to the sampling policy. ``algorithm='reinforce'`` (Williams 1992)
takes one gradient step of ``-A * log p`` per batch. The advantage is the reward minus an exponential
moving average of past rewards (``baseline_decay``), divided by the batch's reward std when
``normalize_advantages`` (so one learning rate suits any reward scale). An entropy bonus keeps the
policy from collapsing early. The policy starts uniform (zero-initialised heads).

The archs a policy proposes before its next update are sampled in one batched pass. ``feasible_only``
(default on): with a hard latency constraint handed over by the job (``Strategy.constrain``), only
the feasible samples are proposed, so the budget goes to feasible archs and the policy learns among
them (PPO's ratio keeps the unconditional probabilities).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from nas.strategies.base import MAX_TRIES, Encoding, StrategyError, seed_stream
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES


REJECTION_BATCH = 25  # policy samples drawn at once when looking for a feasible arch


class ControllerPolicy(nn.Module):
    """LSTM policy over decisions with ``sizes[t]`` choices each."""

    def __init__(self, sizes: Sequence[int], hidden_size: int = 64, temperature: float = 1.0,
                 tanh_constant: Optional[float] = None):
        super().__init__()
        self.sizes = list(sizes)
        offsets = [0]
        for n in self.sizes[:-1]:
            offsets.append(offsets[-1] + n)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.start = sum(self.sizes)  # index of the start token
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.embed = nn.Embedding(self.start + 1, hidden_size)
        self.cell = nn.LSTMCell(hidden_size, hidden_size)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.sizes)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)
        for head in self.heads:  # uniform policy at the start
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def logits(self, t: int, h: torch.Tensor) -> torch.Tensor:
        out = self.heads[t](h) / self.temperature
        if self.tanh_constant is not None:  # ENAS's logit squashing (Pham et al. 2018)
            out = self.tanh_constant * torch.tanh(out)
        return out

    def run(self, actions: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None,
            greedy: bool = False, samples: int = 1) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced on ``actions`` ``[B, T]``, or sampling ``samples`` archs when ``actions`` is None.
        Returns ``(actions [B, T], log_prob [B], entropy [B])``."""
        batch = samples if actions is None else actions.shape[0]
        x = self.embed(torch.full((batch,), self.start, dtype=torch.long))
        hc = None
        taken, logp, ent = [], 0.0, 0.0
        for t in range(len(self.sizes)):
            hc = self.cell(x, hc)
            log_probs = torch.log_softmax(self.logits(t, hc[0]), dim=-1)
            if actions is not None:
                a = actions[:, t]
            elif greedy:
                a = log_probs.argmax(dim=-1)
            else:
                a = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
            logp = logp + log_probs.gather(1, a[:, None]).squeeze(1)
            ent = ent - (log_probs.exp() * log_probs).sum(-1)
            taken.append(a)
            x = self.embed(self.offsets[t] + a)
        return torch.stack(taken, 1), logp, ent


@STRATEGIES.register("mnasnet")
class MnasNetController(Controller):
    """Options: ``algorithm`` ppo|reinforce; ``batch_size`` archs per policy update; ``lr`` (Adam);
    ``ppo_epochs``, ``clip`` (PPO); ``entropy_coef``; ``baseline_decay``; ``normalize_advantages``;
    ``hidden_size``; ``temperature`` / ``tanh_constant`` (logit shaping); ``max_grad_norm``;
    ``feasible_only`` (see the module docstring)."""

    name = "mnasnet"

    def __init__(self, space: Any, seed: int = 0, algorithm: str = "ppo", batch_size: int = 16, lr: float = 0.01,
                 ppo_epochs: int = 4, clip: float = 0.2, entropy_coef: float = 0.01, baseline_decay: float = 0.9,
                 normalize_advantages: bool = True, hidden_size: int = 64, temperature: float = 1.0,
                 tanh_constant: Optional[float] = None, max_grad_norm: Optional[float] = 5.0,
                 feasible_only: bool = True):
        super().__init__(space, seed)
        src = "strategy 'mnasnet'"
        if algorithm not in ("ppo", "reinforce"):
            raise StrategyError(src, "algorithm", "ppo or reinforce", algorithm)
        for key, value in (("batch_size", batch_size), ("ppo_epochs", ppo_epochs), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StrategyError(src, key, "an integer >= 1", value)
        for key, value, ok, expected in (("lr", lr, lambda v: v > 0, "a number > 0"),
                                         ("clip", clip, lambda v: 0 < v < 1, "a number in (0, 1)"),
                                         ("entropy_coef", entropy_coef, lambda v: v >= 0, "a number >= 0"),
                                         ("baseline_decay", baseline_decay, lambda v: 0 <= v < 1, "a number in [0, 1)"),
                                         ("temperature", temperature, lambda v: v > 0, "a number > 0")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise StrategyError(src, key, expected, value)
        if not isinstance(feasible_only, bool):
            raise StrategyError(src, "feasible_only", "true or false", feasible_only)
        self.algorithm, self.batch_size, self.lr = algorithm, batch_size, float(lr)
        self.ppo_epochs, self.clip, self.entropy_coef = ppo_epochs, float(clip), float(entropy_coef)
        self.baseline_decay, self.normalize_advantages = float(baseline_decay), bool(normalize_advantages)
        self.max_grad_norm = max_grad_norm
        self.options = {"algorithm": algorithm, "batch_size": batch_size, "lr": self.lr, "ppo_epochs": ppo_epochs,
                        "clip": self.clip, "entropy_coef": self.entropy_coef, "baseline_decay": self.baseline_decay,
                        "normalize_advantages": self.normalize_advantages, "hidden_size": hidden_size,
                        "temperature": float(temperature), "tanh_constant": tanh_constant,
                        "max_grad_norm": max_grad_norm, "feasible_only": feasible_only}
        self.generator = torch.Generator().manual_seed(seed_stream("mnasnet-sample", self.seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_stream("mnasnet-init", self.seed))
            self.policy = ControllerPolicy(self.sizes, hidden_size, temperature, tanh_constant)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr)
        self.baseline: Optional[float] = None
        self.buffer: List[Tuple[Encoding, float, float]] = []  # (encoding, sampling log-prob, reward)
        self.queue: List[Tuple[Encoding, float]] = []  # sampled by the current policy, not yet proposed
        self.updates = 0

    # --- ask / tell hooks --------------------------------------------------------------------------
    def _propose(self) -> Tuple[Encoding, Any]:
        if not self.queue:
            self.queue = self._sample_until_update()
        enc, logp = self.queue.pop(0)
        return enc, logp

    def _sample_until_update(self) -> List[Tuple[Encoding, float]]:
        """The archs the current policy proposes until its next update, sampled in one batched pass (the
        policy does not change before it); with a constraint (``feasible_only``), feasible ones only."""
        need = max(self.batch_size - len(self.buffer) - len(self._pending), 1)
        out: List[Tuple[Encoding, float]] = []
        for _ in range(max(MAX_TRIES // REJECTION_BATCH, 1)):
            with torch.no_grad():
                actions, logp, _ = self.policy.run(generator=self.generator,
                                                   samples=max(need, REJECTION_BATCH) if self.constrained else need)
            for enc, lp in zip(actions.tolist(), logp.tolist()):
                if not self.constrained or self.feasible(enc):
                    out.append((enc, lp))
            if len(out) >= need or not self.constrained:
                return out[:need]
        return out[:need] or [(enc, lp)]  # no feasible arch drawn: the last one

    def _observe(self, enc: Encoding, record, info: Any) -> None:
        self.buffer.append((list(enc), float(info), record.reward))
        if len(self.buffer) >= self.batch_size:
            self.update()

    # --- training ----------------------------------------------------------------------------------
    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        """Reward minus the moving-average baseline (then scaled by the batch std); updates the baseline."""
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        adv = rewards - self.baseline
        if self.normalize_advantages and len(rewards) > 1:
            std = float(rewards.std())
            if std > 1e-12:
                adv = adv / std
        for r in rewards.tolist():
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * r
        return adv

    def update(self) -> Dict[str, float]:
        """One policy update on the buffered batch (PPO: several clipped epochs; REINFORCE: one step)."""
        actions = torch.tensor([e for e, _, _ in self.buffer], dtype=torch.long)
        old_logp = torch.tensor([lp for _, lp, _ in self.buffer], dtype=torch.float64)
        adv = self.advantages(torch.tensor([r for _, _, r in self.buffer], dtype=torch.float64)).float()
        self.buffer, self.queue = [], []
        epochs = self.ppo_epochs if self.algorithm == "ppo" else 1
        stats: Dict[str, float] = {}
        for _ in range(epochs):
            _, logp, ent = self.policy.run(actions)
            if self.algorithm == "ppo":
                ratio = torch.exp(logp - old_logp.float())
                surrogate = torch.min(ratio * adv, ratio.clamp(1 - self.clip, 1 + self.clip) * adv)
            else:
                surrogate = logp * adv
            loss = -surrogate.mean() - self.entropy_coef * ent.mean()
            self.optimizer.zero_grad()
            loss.backward()
            if self.max_grad_norm:
                nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.optimizer.step()
            stats = {"loss": float(loss.detach()), "entropy": float(ent.mean().detach())}
        self.updates += 1
        return stats

    def policy_arch(self):
        """The policy's most likely arch (greedy decoding)."""
        with torch.no_grad():
            actions, _, _ = self.policy.run(greedy=True)
        return self.space.decode(actions[0].tolist())

    # --- checkpoint --------------------------------------------------------------------------------
    def _state(self) -> Dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "baseline": self.baseline, "updates": self.updates,
                "buffer": [[list(e), lp, r] for e, lp, r in self.buffer],
                "queue": [[list(e), lp] for e, lp in self.queue]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]
        self.updates = int(state["updates"])
        self.buffer = [([int(i) for i in e], float(lp), float(r)) for e, lp, r in state["buffer"]]
        self.queue = [([int(i) for i in e], float(lp)) for e, lp in state.get("queue", [])]
