"""Adagrad, RMSprop and Adadelta cases, against torch.optim's single-tensor code path (``foreach=False``)."""

import itertools

import torch

from reference_impl.optim import Adadelta, Adagrad, RMSprop

from . import BehaviourCase, InvalidCase, OptimCase


def _torch(cls):
    return lambda params, **kwargs: cls(params, foreach=False, **kwargs)


CASES = []

# Adagrad. The second group never sets initial_accumulator_value: torch.optim.Adagrad ignores a per-group value
# (it always uses the constructor's), while ours honours it, so such a case has no oracle.
for lr_decay, weight_decay, initial in itertools.product((0.0, 0.01), (0.0, 1e-2), (0.0, 0.1)):
    CASES.append(
        OptimCase(
            id=f"adagrad-lrd{lr_decay}-wd{weight_decay}-init{initial}",
            make_ours=Adagrad,
            make_oracle=_torch(torch.optim.Adagrad),
            kwargs=dict(lr=0.05, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial),
            group2=dict(lr=0.02, weight_decay=0.05, lr_decay=0.005, eps=1e-6),
        )
    )

# RMSprop: every combination of momentum, centered and weight decay; the second group flips the flags.
for momentum, centered, weight_decay in itertools.product((0.0, 0.9), (False, True), (0.0, 1e-2)):
    CASES.append(
        OptimCase(
            id=f"rmsprop-m{momentum}-c{int(centered)}-wd{weight_decay}",
            make_ours=RMSprop,
            make_oracle=_torch(torch.optim.RMSprop),
            kwargs=dict(lr=1e-3, momentum=momentum, centered=centered, weight_decay=weight_decay),
            group2=dict(lr=5e-4, alpha=0.95, weight_decay=0.05, momentum=0.0 if momentum else 0.5,
                        centered=not centered),
        )
    )
CASES.append(
    OptimCase(
        id="rmsprop-alpha0.9-eps1e-6",
        make_ours=RMSprop,
        make_oracle=_torch(torch.optim.RMSprop),
        kwargs=dict(lr=2e-3, alpha=0.9, eps=1e-6, momentum=0.5, centered=True, weight_decay=1e-3),
    )
)

# Adadelta: default lr 1.0 and a scaled one; two rho / eps values; with and without L2.
for lr, rho, eps, weight_decay in ((1.0, 0.9, 1e-6, 0.0), (1.0, 0.95, 1e-4, 1e-2), (0.5, 0.9, 1e-6, 1e-2)):
    CASES.append(
        OptimCase(
            id=f"adadelta-lr{lr}-rho{rho}-eps{eps}-wd{weight_decay}",
            make_ours=Adadelta,
            make_oracle=_torch(torch.optim.Adadelta),
            kwargs=dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay),
            group2=dict(lr=0.5, rho=0.8, weight_decay=0.05),
        )
    )

INVALID = [
    InvalidCase("adagrad-lr", Adagrad, dict(lr=-1e-2), "lr"),
    InvalidCase("adagrad-lr-inf", Adagrad, dict(lr=float("inf")), "lr"),
    InvalidCase("adagrad-lr-decay", Adagrad, dict(lr_decay=-0.1), "lr_decay"),
    InvalidCase("adagrad-weight-decay", Adagrad, dict(weight_decay=-1e-4), "weight_decay"),
    InvalidCase("adagrad-initial", Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    InvalidCase("adagrad-eps", Adagrad, dict(eps=-1e-10), "eps"),
    InvalidCase("adagrad-eps-nan", Adagrad, dict(eps=float("nan")), "eps"),
    InvalidCase("rmsprop-lr", RMSprop, dict(lr=-1e-3), "lr"),
    InvalidCase("rmsprop-alpha-negative", RMSprop, dict(alpha=-0.1), "alpha"),
    InvalidCase("rmsprop-alpha-above-one", RMSprop, dict(alpha=1.5), "alpha"),
    InvalidCase("rmsprop-eps", RMSprop, dict(eps=-1e-8), "eps"),
    InvalidCase("rmsprop-weight-decay", RMSprop, dict(weight_decay=-1.0), "weight_decay"),
    InvalidCase("rmsprop-momentum", RMSprop, dict(momentum=-0.9), "momentum"),
    InvalidCase("rmsprop-centered-not-bool", RMSprop, dict(centered="yes"), "centered"),
    InvalidCase("adadelta-lr", Adadelta, dict(lr=-1.0), "lr"),
    InvalidCase("adadelta-rho-negative", Adadelta, dict(rho=-0.1), "rho"),
    InvalidCase("adadelta-rho-above-one", Adadelta, dict(rho=1.1), "rho"),
    InvalidCase("adadelta-eps", Adadelta, dict(eps=-1e-6), "eps"),
    InvalidCase("adadelta-weight-decay", Adadelta, dict(weight_decay=-1e-2), "weight_decay"),
]

BEHAVIOUR = [
    BehaviourCase("Adagrad", Adagrad, kwargs=dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-3),
                  toy_kwargs=dict(lr=0.5)),
    BehaviourCase("RMSprop", RMSprop, kwargs=dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3),
                  toy_kwargs=dict(lr=1e-2)),
    BehaviourCase("Adadelta", Adadelta, kwargs=dict(lr=1.0, weight_decay=1e-3), toy_kwargs=dict(lr=1.0, eps=1e-4)),
]
