"""Synthetic search tasks with a known optimum for the controller tests (and a check of that optimum).

``ChainTask``: reward = mean_t u_t[a_t] + coupling * mean_t v_t[a_t, a_t+1]; with coupling 0 it is
additive (each decision's best choice is the optimum), otherwise neighbouring decisions interact and the
optimum comes from dynamic programming over the chain. A latency per choice makes accuracy and
latency compete (for the reward formula and NSGA-II); accuracy is the reward scaled into [0.5, 0.9].
"""

import itertools
import random
from pathlib import Path

from nas.space import load_space

TOY = Path(__file__).parent / "toy_spaces"


def toy_space(name="toy6x4"):
    return load_space(TOY / f"{name}.yaml", variant="cifar")


class ChainTask:
    def __init__(self, space, seed=0, coupling=0.0):
        rng = random.Random(f"task-{seed}")
        self.space, self.coupling = space, coupling
        self.sizes = [len(d.choices) for d in space.decisions]
        self.u = [[rng.random() for _ in range(n)] for n in self.sizes]
        self.v = [[[rng.random() for _ in range(m)] for _ in range(n)] for n, m in zip(self.sizes, self.sizes[1:])]
        self.lat = [[1.0 + 2.0 * rng.random() for _ in range(n)] for n in self.sizes]
        self.evaluations = 0

    def score(self, enc):
        t = len(enc)
        s = sum(self.u[i][a] for i, a in enumerate(enc)) / t
        if self.coupling and t > 1:
            s += self.coupling * sum(self.v[i][a][b] for i, (a, b) in enumerate(zip(enc, enc[1:]))) / (t - 1)
        return s

    def latency(self, enc):
        return sum(self.lat[i][a] for i, a in enumerate(enc))

    def __call__(self, arch):
        self.evaluations += 1
        enc = self.space.encode(arch)
        s = self.score(enc)
        return {"reward": s, "accuracy": 0.5 + 0.4 * s / (1 + self.coupling), "latency_ms": self.latency(enc)}

    def optimum(self):
        """(best encoding, best score) by dynamic programming over the chain."""
        t = len(self.sizes)
        cu = [[x / t for x in row] for row in self.u]
        cv = self.coupling / (t - 1) if t > 1 else 0.0
        best = list(cu[0])
        back = []
        for i in range(1, t):
            new, arg = [], []
            for b in range(self.sizes[i]):
                cands = [best[a] + cv * self.v[i - 1][a][b] for a in range(self.sizes[i - 1])]
                j = max(range(len(cands)), key=cands.__getitem__)
                new.append(cands[j] + cu[i][b])
                arg.append(j)
            best, back = new, back + [arg]
        last = max(range(len(best)), key=best.__getitem__)
        enc = [last]
        for arg in reversed(back):
            enc.append(arg[enc[-1]])
        enc.reverse()
        return enc, self.score(enc)


def test_chain_optimum_is_the_brute_force_argmax():
    space = toy_space("toy6x4")
    for coupling in (0.0, 1.0):
        task = ChainTask(space, seed=3, coupling=coupling)
        enc, score = task.optimum()
        brute = max(itertools.product(*[range(n) for n in task.sizes]), key=task.score)
        assert list(brute) == enc and abs(task.score(list(brute)) - score) < 1e-12
