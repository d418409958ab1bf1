"""Evaluators that score a sampled architecture for the controllers (``evaluator=`` of ``nas.search``).

- ``oneshot``: train the space's supernet once (``nas.supernet.training``: superkernels, zero-init
  residual gammas, uniform / fair / sandwich path sampling, as the ``supernet`` config section says),
  cache it, then score each arch with the inherited weights after re-estimating BatchNorm
  statistics on a few batches. A later search on the same space, data and options reuses the cache
  (so does FBNet's hard-mode warm-up).
- ``proxy``: train each arch's child from scratch for a few epochs on the proxy data (MNASNet's way).
- ``zerocost``: score the untrained child with a zero-cost proxy (``nas.evaluators.zerocost``; its ``accuracy``
  is a squashed score, not an accuracy).
- ``benchmark``: look the accuracy up in a tabular benchmark (``nas.evaluators.benchmark``; test accuracy,
  optimistic).

``oneshot`` and ``proxy`` train on the weight split and score on the architecture split (held out from
that training); under torchrun both train data-parallel (``nas.distributed``) and every rank scores its
share. An evaluator may carry ``notes`` for the search's summary and offer
``summarize(records, reward) -> (figures, notes)`` (ground truth it knows; the controller job adds
them to the summary).
"""

from nas.evaluators.base import EVALUATORS, Evaluator
from nas.evaluators import benchmark, oneshot, proxy, zerocost  # noqa: F401,E402  (register the evaluators)
from nas.evaluators.oneshot import OneShotEvaluator
from nas.evaluators.proxy import ProxyEvaluator

__all__ = ["EVALUATORS", "Evaluator", "OneShotEvaluator", "ProxyEvaluator"]
