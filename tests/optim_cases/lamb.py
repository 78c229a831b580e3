"""LAMB cases.

No installed package implements exactly the variant of ``reference_impl.optim.Lamb`` (You et al., Algorithm 2:
bias-corrected moments, decay inside the trust ratio, unclamped ratio without ε, ratio 1 where a norm is 0), so
two oracles check it:

1. :class:`PaperLamb` below, a direct transcription of Algorithm 2 written for the test (out-of-place tensor
   arithmetic, no shared code with the library), for every hyperparameter setting at full tolerance;
2. ``pytorch_optimizer.Lamb`` where its variant provably coincides with ours. With ``weight_decouple=False`` (decay
   added to the Adam direction inside the ratio), ``adam_debias=True`` (no 1/(1-β₁ᵗ) outside the ratio) and
   ``foreach=False`` it computes u = m/(√v + ε) + λθ, θ ← θ − η·min(‖θ‖, 10)/(‖u‖ + ε)·u: no bias correction, a
   clamped ratio, and ε in the ratio. With ε = 0 and parameter norms below 10 (true for the test network) that is
   our update exactly when either λ = 0 (the trust ratio cancels any per-tensor scale, so bias correction drops
   out) or β₁ = β₂ = 0 (the corrections are 1). Those two settings are checked against it.
"""

import itertools

import torch
from pytorch_optimizer import Lamb as PyOptLamb

from reference_impl.optim import Lamb

from . import BehaviourCase, InvalidCase, OptimCase


class PaperLamb(torch.optim.Optimizer):
    """Algorithm 2 of You et al. (2020) with φ = identity, written literally (slow, out of place)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for x in group["params"]:
                if x.grad is None:
                    continue
                s = self.state[x]
                if not s:
                    s["t"], s["m"], s["v"] = 0, torch.zeros_like(x), torch.zeros_like(x)
                s["t"] += 1
                t, g = s["t"], x.grad
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                m_hat = s["m"] / (1 - b1**t)
                v_hat = s["v"] / (1 - b2**t)
                r = m_hat / (torch.sqrt(v_hat) + group["eps"]) + group["weight_decay"] * x
                x_norm, r_norm = x.norm(), r.norm()
                ratio = x_norm / r_norm if (x_norm > 0 and r_norm > 0) else 1.0
                x.copy_(x - group["lr"] * ratio * r)


def _pytorch_optimizer_lamb(params, **kwargs):
    return PyOptLamb(params, weight_decouple=False, adam_debias=True, foreach=False, **kwargs)


CASES = [
    OptimCase(
        id=f"lamb-paper-lr{lr}-b{betas[0]},{betas[1]}-eps{eps}-wd{weight_decay}",
        make_ours=Lamb,
        make_oracle=PaperLamb,
        kwargs=dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
        group2=dict(lr=lr / 2, betas=(0.8, 0.99), weight_decay=0.05),
    )
    for lr, betas, eps, weight_decay in itertools.product(
        (1e-3, 1e-2), ((0.9, 0.999), (0.5, 0.9)), (1e-6, 1e-8), (0.0, 0.01)
    )
]
CASES += [
    OptimCase(
        id="lamb-vs-pytorch-optimizer-no-decay",
        make_ours=Lamb,
        make_oracle=_pytorch_optimizer_lamb,
        kwargs=dict(lr=1e-2, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0),
        group2=dict(lr=5e-3, betas=(0.8, 0.99)),
        note="with lambda = 0 the trust ratio cancels bias correction, so pytorch_optimizer's variant is ours",
    ),
    OptimCase(
        id="lamb-vs-pytorch-optimizer-decay-betas0",
        make_ours=Lamb,
        make_oracle=_pytorch_optimizer_lamb,
        kwargs=dict(lr=1e-2, betas=(0.0, 0.0), eps=0.0, weight_decay=0.1),
        group2=dict(lr=5e-3, weight_decay=0.5),
        note="with betas = 0 the bias corrections are 1, so pytorch_optimizer's variant is ours",
    ),
]

INVALID = [
    InvalidCase("lamb-lr", Lamb, dict(lr=-1e-3), "lr"),
    InvalidCase("lamb-beta1", Lamb, dict(betas=(-0.1, 0.999)), "betas"),
    InvalidCase("lamb-beta2", Lamb, dict(betas=(0.9, 1.0)), "betas"),
    InvalidCase("lamb-eps", Lamb, dict(eps=-1e-6), "eps"),
    InvalidCase("lamb-eps-inf", Lamb, dict(eps=float("inf")), "eps"),
    InvalidCase("lamb-weight-decay", Lamb, dict(weight_decay=-0.01), "weight_decay"),
]

BEHAVIOUR = [
    BehaviourCase("Lamb", Lamb, kwargs=dict(lr=1e-3, weight_decay=0.01), toy_kwargs=dict(lr=2e-2)),
]
