"""Muon cases, against ``torch.optim.Muon`` on the matrix-only network.

Tolerance 0: our Muon runs Newton–Schulz in bfloat16 with the same torch ops as ``torch.optim.Muon`` (see
``reference_impl/optim/muon.py``), so the trajectories are equal bit for bit, in float32 and float64 parameters
alike (measured: ``torch.equal`` after each of 100 steps). Any change of op order shows up here at once.
"""

import torch

from reference_impl.optim import Muon

from . import BehaviourCase, InvalidCase, OptimCase

EXACT = {torch.float32: 0.0, torch.float64: 0.0}

_SETTINGS = {
    "defaults": dict(lr=0.02),
    "no-nesterov-nowd": dict(lr=0.02, nesterov=False, weight_decay=0.0),
    "original-momentum0.9": dict(lr=0.02, adjust_lr_fn="original", momentum=0.9, weight_decay=0.05),
    "match-rms-adamw": dict(lr=1e-3, adjust_lr_fn="match_rms_adamw", weight_decay=0.1),
    "ns3-coeffs-eps": dict(lr=0.02, ns_steps=3, ns_coefficients=(3.0, -3.2, 1.2), eps=1e-5),
    "no-momentum": dict(lr=0.01, momentum=0.0, nesterov=False),
}

CASES = [
    OptimCase(
        id=f"muon-{name}",
        make_ours=Muon,
        make_oracle=torch.optim.Muon,
        kwargs=kwargs,
        group2=dict(lr=0.005, weight_decay=0.0, momentum=0.8),
        model="matrix",
        rtol=EXACT,
        atol=EXACT,
        note="bit-identical: same bfloat16 Newton–Schulz as torch",
    )
    for name, kwargs in _SETTINGS.items()
]

INVALID = [
    InvalidCase("muon-lr", Muon, dict(lr=-0.02), "lr"),
    InvalidCase("muon-weight-decay", Muon, dict(weight_decay=-0.1), "weight_decay"),
    InvalidCase("muon-momentum", Muon, dict(momentum=1.0), "momentum"),
    InvalidCase("muon-momentum-negative", Muon, dict(momentum=-0.1), "momentum"),
    InvalidCase("muon-nesterov", Muon, dict(nesterov="true"), "nesterov"),
    InvalidCase("muon-coefficients-len", Muon, dict(ns_coefficients=(3.4445, -4.775)), "ns_coefficients"),
    InvalidCase("muon-coefficients-nan", Muon, dict(ns_coefficients=(3.4445, float("nan"), 2.0315)), "ns_coefficients"),
    InvalidCase("muon-eps", Muon, dict(eps=0.0), "eps"),
    InvalidCase("muon-ns-steps", Muon, dict(ns_steps=-1), "ns_steps"),
    InvalidCase("muon-ns-steps-large", Muon, dict(ns_steps=100), "ns_steps"),
    InvalidCase("muon-adjust-lr", Muon, dict(adjust_lr_fn="sqrt"), "adjust_lr_fn"),
]

BEHAVIOUR = [
    # toy problems: no decay (it would pull towards 0, away from the minima at (1, -1) and (1, 1)), larger lr
    BehaviourCase("Muon", Muon, kwargs=dict(lr=0.02), toy_kwargs=dict(lr=0.01, weight_decay=0.0), model="matrix"),
]
