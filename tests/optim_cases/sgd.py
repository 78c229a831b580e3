"""SGD cases: every flag combination, against torch.optim.SGD."""

import itertools

import torch

from reference_impl.optim import SGD

from . import BehaviourCase, InvalidCase, OptimCase

CASES = []
for momentum, dampening, nesterov, weight_decay in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 1e-2)):
    if nesterov and (momentum == 0 or dampening != 0):
        continue  # torch rejects these (tested in INVALID)
    kwargs = dict(lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)
    CASES.append(
        OptimCase(
            id=f"sgd-m{momentum}-d{dampening}-n{int(nesterov)}-wd{weight_decay}",
            make_ours=SGD,
            make_oracle=lambda p, **k: torch.optim.SGD(p, foreach=False, **k),
            kwargs=kwargs,
            group2=dict(lr=0.02, weight_decay=0.05),
        )
    )

INVALID = [
    InvalidCase("sgd-lr", SGD, dict(lr=-0.1), "lr"),
    InvalidCase("sgd-lr-nan", SGD, dict(lr=float("nan")), "lr"),
    InvalidCase("sgd-momentum", SGD, dict(momentum=-0.5), "momentum"),
    InvalidCase("sgd-dampening", SGD, dict(dampening=-1.0), "dampening"),
    InvalidCase("sgd-weight-decay", SGD, dict(weight_decay=-1e-4), "weight_decay"),
    InvalidCase("sgd-nesterov-no-momentum", SGD, dict(nesterov=True), "nesterov"),
    InvalidCase("sgd-nesterov-dampening", SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
]

BEHAVIOUR = [
    BehaviourCase("SGD", SGD, kwargs=dict(lr=0.01, momentum=0.9), toy_kwargs=dict(lr=1e-3, momentum=0.9)),
]
