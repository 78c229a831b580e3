"""Lion cases, against the authors' algorithm as packaged by ``lion-pytorch`` (``lion_pytorch.Lion``)."""

import itertools

from lion_pytorch import Lion as AuthorsLion

from reference_impl.optim import Lion

from . import BehaviourCase, InvalidCase, OptimCase

CASES = [
    OptimCase(
        id=f"lion-lr{lr}-b{betas[0]},{betas[1]}-wd{weight_decay}",
        make_ours=Lion,
        make_oracle=AuthorsLion,
        kwargs=dict(lr=lr, betas=betas, weight_decay=weight_decay),
        group2=dict(lr=5e-5, betas=(0.8, 0.999), weight_decay=1.0),
    )
    for lr, betas, weight_decay in itertools.product((1e-4, 3e-4), ((0.9, 0.99), (0.95, 0.98)), (0.0, 0.1))
]

INVALID = [
    InvalidCase("lion-lr", Lion, dict(lr=-1e-4), "lr"),
    InvalidCase("lion-lr-inf", Lion, dict(lr=float("inf")), "lr"),
    InvalidCase("lion-beta1", Lion, dict(betas=(1.5, 0.99)), "betas"),
    InvalidCase("lion-beta2", Lion, dict(betas=(0.9, 1.0)), "betas"),
    InvalidCase("lion-betas-length", Lion, dict(betas=(0.9, 0.99, 0.999)), "betas"),
    InvalidCase("lion-weight-decay", Lion, dict(weight_decay=-0.1), "weight_decay"),
]

BEHAVIOUR = [
    BehaviourCase("Lion", Lion, kwargs=dict(lr=1e-4, weight_decay=0.1), toy_kwargs=dict(lr=1e-2)),
]
