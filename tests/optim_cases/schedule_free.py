"""Schedule-free SGD and AdamW cases, against the authors' ``schedulefree`` package (``foreach=False``).

The hook puts both optimizers in train mode before the first step (``schedulefree`` starts in eval mode and refuses
to step), makes an ``eval()`` / ``train()`` round trip every 25 steps (twice each at step 50: both calls must be
idempotent), halves every group's lr at step 60 (the averaging weights must keep using the running maximum of the
lr, not the current one), and switches to eval mode after the last step, so the final comparison is between the averages
:math:`x` (all other comparisons are between the gradient points :math:`y`).

Tolerance: the defaults (rtol 1e-5 / atol 1e-6 in float32, 1e-10 / 1e-12 in float64). Like ``schedulefree``, we keep
only :math:`z`, update :math:`y` in place with the same operations in the same order, and recover :math:`x` by the same
extrapolation, so on CPU the trajectories agree bit for bit; the tolerance is there for other platforms.
"""

import itertools

import schedulefree

from reference_impl.optim import AdamWScheduleFree, SGDScheduleFree

from . import BehaviourCase, InvalidCase, OptimCase

STEPS = 100


def _switch_modes(opt, step):
    if step == 0:
        opt.train()
    elif step == 60:
        for group in opt.param_groups:
            group["lr"] *= 0.5  # a user's lr drop: the averaging weights keep using the running maximum lr
    elif step == STEPS:
        opt.eval()  # after the last step: compare the averages x
    elif step == 50:
        opt.eval(), opt.eval(), opt.train(), opt.train()
    elif step % 25 == 0:
        opt.eval(), opt.train()


def _oracle(cls):
    return lambda params, **kwargs: cls(params, foreach=False, **kwargs)


CASES = []
WEIGHTINGS = ((0.0, 2.0), (1.0, 0.0))  # (r, weight_lr_power): the default, and polynomial weights without lr
for warmup_steps, weight_decay, (r, weight_lr_power) in itertools.product((0, 20), (0.0, 1e-2), WEIGHTINGS):
    CASES.append(
        OptimCase(
            id=f"sgd-sf-warm{warmup_steps}-wd{weight_decay}-r{r}-p{weight_lr_power}",
            make_ours=SGDScheduleFree,
            make_oracle=_oracle(schedulefree.SGDScheduleFree),
            kwargs=dict(lr=0.2, momentum=0.9, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
                        weight_lr_power=weight_lr_power),
            group2=dict(lr=0.05, momentum=0.8, weight_decay=0.05),
            steps=STEPS,
            hook=_switch_modes,
        )
    )
    CASES.append(
        OptimCase(
            id=f"adamw-sf-warm{warmup_steps}-wd{weight_decay}-r{r}-p{weight_lr_power}",
            make_ours=AdamWScheduleFree,
            make_oracle=_oracle(schedulefree.AdamWScheduleFree),
            kwargs=dict(lr=5e-3, betas=(0.9, 0.999), weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
                        weight_lr_power=weight_lr_power),
            group2=dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
            steps=STEPS,
            hook=_switch_modes,
        )
    )

INVALID = []
for name, cls in (("sgd-sf", SGDScheduleFree), ("adamw-sf", AdamWScheduleFree)):
    INVALID += [
        InvalidCase(f"{name}-lr", cls, dict(lr=-1.0), "lr"),
        InvalidCase(f"{name}-weight-decay", cls, dict(weight_decay=-1e-3), "weight_decay"),
        InvalidCase(f"{name}-warmup", cls, dict(warmup_steps=-1), "warmup_steps"),
        InvalidCase(f"{name}-warmup-float", cls, dict(warmup_steps=2.5), "warmup_steps"),
        InvalidCase(f"{name}-r", cls, dict(r=-1.0), "r"),
        InvalidCase(f"{name}-weight-lr-power", cls, dict(weight_lr_power=float("inf")), "weight_lr_power"),
    ]
INVALID += [
    InvalidCase("sgd-sf-momentum-0", SGDScheduleFree, dict(momentum=0.0), "momentum"),
    InvalidCase("sgd-sf-momentum-1", SGDScheduleFree, dict(momentum=1.0), "momentum"),
    InvalidCase("adamw-sf-beta1-0", AdamWScheduleFree, dict(betas=(0.0, 0.999)), "betas"),
    InvalidCase("adamw-sf-beta2", AdamWScheduleFree, dict(betas=(0.9, 1.0)), "betas"),
    InvalidCase("adamw-sf-eps", AdamWScheduleFree, dict(eps=-1e-8), "eps"),
]

BEHAVIOUR = [
    # the toy test evaluates at x (it calls eval() at the end); larger lr than on the network
    BehaviourCase("SGDScheduleFree", SGDScheduleFree, kwargs=dict(lr=0.2), toy_kwargs=dict(lr=3e-3)),
    BehaviourCase("AdamWScheduleFree", AdamWScheduleFree, kwargs=dict(lr=5e-3), toy_kwargs=dict(lr=0.05)),
]
