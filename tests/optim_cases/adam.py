"""Adam and AdamW cases (every flag: amsgrad, L2 / decoupled decay), against torch.optim with ``foreach=False``."""

import itertools

import torch

from reference_impl.optim import Adam, AdamW

from . import BehaviourCase, InvalidCase, OptimCase

CASES = []
for (name, ours, oracle), amsgrad, weight_decay, (betas, eps) in itertools.product(
    (("adam", Adam, torch.optim.Adam), ("adamw", AdamW, torch.optim.AdamW)),
    (False, True),
    (0.0, 1e-2, 0.1),
    (((0.9, 0.999), 1e-8), ((0.8, 0.99), 1e-6)),
):
    CASES.append(
        OptimCase(
            id=f"{name}-ams{int(amsgrad)}-wd{weight_decay}-b{betas[0]},{betas[1]}-eps{eps}",
            make_ours=ours,
            make_oracle=lambda params, oracle=oracle, **kwargs: oracle(params, foreach=False, **kwargs),
            kwargs=dict(lr=2e-3, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
            # the second group flips amsgrad: its buffer must appear for that group only
            group2=dict(lr=5e-4, betas=(0.85, 0.995), weight_decay=0.05, amsgrad=not amsgrad),
        )
    )

INVALID = []
for name, cls in (("adam", Adam), ("adamw", AdamW)):
    INVALID += [
        InvalidCase(f"{name}-lr", cls, dict(lr=-1e-3), "lr"),
        InvalidCase(f"{name}-lr-nan", cls, dict(lr=float("nan")), "lr"),
        InvalidCase(f"{name}-beta1", cls, dict(betas=(1.0, 0.999)), "betas"),
        InvalidCase(f"{name}-beta2", cls, dict(betas=(0.9, -0.1)), "betas"),
        InvalidCase(f"{name}-betas-length", cls, dict(betas=(0.9,)), "betas"),
        InvalidCase(f"{name}-betas-not-sequence", cls, dict(betas=0.9), "betas"),
        InvalidCase(f"{name}-eps", cls, dict(eps=-1e-8), "eps"),
        InvalidCase(f"{name}-weight-decay", cls, dict(weight_decay=-1e-2), "weight_decay"),
        InvalidCase(f"{name}-amsgrad-not-bool", cls, dict(amsgrad=1), "amsgrad"),
    ]

BEHAVIOUR = [
    BehaviourCase("Adam", Adam, kwargs=dict(lr=1e-3, weight_decay=1e-3, amsgrad=True), toy_kwargs=dict(lr=5e-2)),
    BehaviourCase("AdamW", AdamW, kwargs=dict(lr=1e-3, weight_decay=0.1, amsgrad=True),
                  toy_kwargs=dict(lr=5e-2, weight_decay=1e-3)),
]
