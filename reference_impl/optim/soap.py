r"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al., 2024).

Shampoo preconditions a weight matrix :math:`W` (gradient :math:`G`, :math:`m \times n`) with two small matrices,
the statistics :math:`L \approx \mathbb{E}[GG^\top]` (:math:`m\times m`) and :math:`R \approx
\mathbb{E}[G^\top G]` (:math:`n \times n`). SOAP keeps Shampoo's statistics but uses only their *eigenvectors*
:math:`Q_L, Q_R`: it rotates the gradient into that basis, runs plain Adam there, and rotates the step back.
Because the eigenbasis changes slowly, it is refreshed only every ``precondition_frequency`` steps, by one step of
power iteration followed by a QR decomposition (cheaper than an eigendecomposition).

One step :math:`t` (counted from the second call of ``step()``; the first call only initialises
:math:`L, R, Q_L, Q_R` from the first gradient and leaves the parameter alone):

.. math::

    G'_t &= Q_L^\top G_t\, Q_R  && \text{(eq-soap-rotate)} \\
    M_t &= \beta_1 M_{t-1} + (1-\beta_1)\, G_t, \qquad M'_t = Q_L^\top M_t\, Q_R \\
    V_t &= \beta_2 V_{t-1} + (1-\beta_2)\, G'_t \odot G'_t \\
    N_t &= Q_L \left( \frac{M'_t}{\sqrt{V_t} + \epsilon} \right) Q_R^\top  && \text{(eq-soap-update)} \\
    \theta_t &= \Bigl(\theta_{t-1} - \gamma \tfrac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\, N_t\Bigr)(1 - \gamma\lambda)
        && \text{(eq-soap-update, decoupled decay after the step)} \\
    L_t &= \beta_s L_{t-1} + (1-\beta_s)\, G_t G_t^\top, \qquad
    R_t = \beta_s R_{t-1} + (1-\beta_s)\, G_t^\top G_t  && \text{(eq-shampoo)} \\
    Q_L &\leftarrow \operatorname{QR}\bigl(L_t\, Q_L\bigr), \quad Q_R \leftarrow \operatorname{QR}\bigl(R_t\, Q_R\bigr)
        \quad \text{every } f \text{ steps}  && \text{(eq-soap-refresh)}

:math:`M` lives in the original coordinates (it is rotated afresh each step), :math:`V` in the rotated ones (when
the basis is refreshed, its entries are re-ordered to follow their eigenvectors). A tensor with more than two
axes gets one statistic per axis; an axis longer than ``max_precond_dim`` (and a 1-D parameter unless
``precondition_1d``) is not rotated: on such axes SOAP is plain Adam.

**Which SOAP this is.** It follows the authors' code (github.com/nikhilvyas/SOAP, ``soap.py`` with the signature
below: ``shampoo_beta=-1`` meaning "use :math:`\beta_2`"), checked step by step against the installable port
``pytorch_optimizer.SOAP``. Differences, all deliberate:

* **float64 works**: every statistic, eigenbasis and QR runs in the parameter's dtype. The authors' code builds
  :math:`L, R` in float32 whatever the parameter dtype and fails on float64 parameters; the port runs the
  eigendecomposition in the parameter dtype but casts the QR refresh to float32.
* steps are counted per parameter, as the authors do (the port counts per parameter group, which differs for a
  parameter that first receives a gradient late);
* ``merge_dims`` on a 1-D parameter is a no-op, as in the authors' code (the port crashes), and the merged shape
  is the authors' (the port's merge returns ``[1]`` when everything fits in one axis and then fails);
* ``normalize_grads`` divides by :math:`\mathrm{RMS}(N) + 10^{-30}` as the authors do (the port adds ``eps``);
* decoupled decay is written :math:`\theta(1-\gamma\lambda)`, as the port (the authors add :math:`-\gamma\lambda
  \theta`; same math, different rounding);
* where :math:`M` lives: versions of the authors' code differ (some keep it in the rotated basis and rotate it
  when the basis changes, later ones keep it in the original basis, and their defaults differ too); we keep it
  in the original basis, as the paper's Algorithm 3 and the port do, with the defaults of the signature above.
  Same math;
* ``closure`` runs under ``torch.enable_grad()`` (the authors' ``step`` does not re-enable gradients).

**Numerics.** Adam in a rotated basis divides by :math:`\sqrt{V}`, and in directions where the statistics are
nearly singular :math:`V` is tiny: rounding there is amplified. Two correct SOAPs agree to about 1e-6 (float32)
on well-conditioned problems but can part by 1e-3 or more on badly conditioned ones (cross-entropy on small
batches); see ``tests/optim_cases/soap.py``.
"""

from __future__ import annotations

from itertools import chain
from typing import Iterable, Optional, Sequence

import torch

from ._shell import Shell, scalar
from .._validation import (
    check_betas,
    check_bool,
    check_nonnegative,
    check_positive_int,
    check_unit_interval,
)

__all__ = [
    "SOAP",
    "soap_update",
    "soap_project",
    "soap_project_back",
    "soap_update_preconditioner",
    "soap_init_eigenbases",
    "soap_refresh_eigenbases",
    "soap_merged_shape",
    "soap_init_factors",
]

Factors = list  # one entry per axis of the (merged) gradient: a square tensor, or None for "not preconditioned"


def soap_merged_shape(shape: Sequence[int], max_precond_dim: int) -> list[int]:
    """Merge neighbouring axes while their product stays <= ``max_precond_dim`` (the authors' rule).

    E.g. a conv kernel ``(3, 2, 3, 3)`` with ``max_precond_dim=15`` becomes ``(6, 9)``: two small statistics
    instead of four tiny ones. A 1-D shape is returned unchanged.
    """
    merged: list[int] = []
    current = 1
    for size in shape:
        if current * size > max_precond_dim:
            if current > 1:
                merged.append(current)
                current = size
            else:
                merged.append(size)
                current = 1
        else:
            current *= size
    if current > 1 or not merged:
        merged.append(current)
    return merged


def _working_shape(shape: torch.Size, merge_dims: bool, max_precond_dim: int) -> list[int]:
    """The shape whose axes get one statistic each."""
    return soap_merged_shape(shape, max_precond_dim) if merge_dims and len(shape) > 1 else list(shape)


def soap_init_factors(
    shape: torch.Size, *, dtype: torch.dtype, device, max_precond_dim: int, precondition_1d: bool, merge_dims: bool
) -> Factors:
    """Zero statistics :math:`L, R, \\dots`: one ``k x k`` matrix per axis of length ``k <= max_precond_dim``."""
    if len(shape) == 1 and not precondition_1d:
        return [None]  # 1-D parameters: plain Adam unless precondition_1d
    return [
        torch.zeros(size, size, dtype=dtype, device=device) if size <= max_precond_dim else None
        for size in _working_shape(shape, merge_dims, max_precond_dim)
    ]


@torch.no_grad()
def soap_update_preconditioner(factors: Factors, grad: torch.Tensor, *, shampoo_beta: float) -> None:
    r"""Update Shampoo's statistics in place: :math:`L \leftarrow \beta_s L + (1-\beta_s)\, G G^\top`, etc.

    For a tensor gradient, the statistic of axis :math:`i` is :math:`G_{(i)} G_{(i)}^\top`, where
    :math:`G_{(i)}` is :math:`G` unfolded with axis :math:`i` as rows (contract every other axis). ``grad`` must
    already have the working (merged) shape; ``None`` entries are skipped.
    """
    for axis, factor in enumerate(factors):
        if factor is None:
            continue
        others = [*chain(range(axis), range(axis + 1, grad.dim()))]
        outer = torch.tensordot(grad, grad, dims=[others, others])  # G_(i) G_(i)^T
        factor.lerp_(outer, 1 - shampoo_beta)  # (eq-shampoo), as an EMA


@torch.no_grad()
def soap_init_eigenbases(factors: Factors) -> Factors:
    """The eigenvectors of each statistic (``torch.linalg.eigh``), columns in order of decreasing eigenvalue."""
    bases: Factors = []
    for factor in factors:
        if factor is None:
            bases.append(None)
            continue
        eye = torch.eye(factor.shape[0], dtype=factor.dtype, device=factor.device)
        try:
            _, vectors = torch.linalg.eigh(factor + 1e-30 * eye)  # 1e-30 * I: as the authors (harmless nudge)
        except RuntimeError:  # rare convergence failure in low precision: retry in float64
            _, vectors = torch.linalg.eigh(factor.double() + 1e-30 * eye.double())
            vectors = vectors.to(factor.dtype)
        bases.append(torch.flip(vectors, dims=[1]))  # eigh sorts ascending; SOAP keeps the largest first
    return bases


@torch.no_grad()
def soap_refresh_eigenbases(
    factors: Factors, bases: Factors, exp_avg_sq: torch.Tensor
) -> tuple[Factors, torch.Tensor]:
    r"""One power-iteration step with QR per statistic; re-order the rotated second moment to match.

    For each statistic :math:`P` (:math:`L` or :math:`R`) with current basis :math:`Q`:

    .. math::

        \hat\lambda_j &= q_j^\top P\, q_j  && \text{(Rayleigh quotients: estimated eigenvalues)} \\
        \pi &= \operatorname{argsort}(\hat\lambda, \text{descending}) \\
        Q &\leftarrow \operatorname{QR}\bigl( (P Q)_{:, \pi} \bigr)_Q  && \text{(eq-soap-refresh)}

    and the entries of :math:`V` along that axis are permuted by :math:`\pi`, so each stays attached to "its"
    eigenvector. ``exp_avg_sq`` must have the working (merged) shape.

    Returns:
        ``(new_bases, new_exp_avg_sq)`` (new tensors; the inputs are not modified).
    """
    new_bases: Factors = []
    for axis, (factor, basis) in enumerate(zip(factors, bases, strict=True)):
        if factor is None:
            new_bases.append(None)
            continue
        power = factor @ basis  # one power-iteration step: P Q
        estimates = (basis * power).sum(dim=0)  # q_j^T P q_j
        order = torch.argsort(estimates, descending=True)
        exp_avg_sq = exp_avg_sq.index_select(axis, order)
        q, _ = torch.linalg.qr(power.index_select(1, order))  # (eq-soap-refresh)
        new_bases.append(q)
    return new_bases, exp_avg_sq


def _rotate(tensor: torch.Tensor, bases: Factors, back: bool) -> torch.Tensor:
    # Contract axis 0 with Q (or Q^T): the rotated axis moves to the end. After one pass over all axes every axis
    # has moved to the end once, so the original order is restored. Axes without a basis are only moved.
    for basis in bases:
        if basis is None:
            tensor = tensor.permute(*range(1, tensor.dim()), 0)
        else:
            tensor = torch.tensordot(tensor, basis, dims=[[0], [1 if back else 0]])
    return tensor


def soap_project(tensor: torch.Tensor, bases: Factors) -> torch.Tensor:
    r"""Rotate into the eigenbasis: :math:`G' = Q_L^\top G\, Q_R` for a matrix (eq-soap-rotate); one :math:`Q_i^\top`
    per axis for a tensor. ``tensor`` must have the working (merged) shape."""
    return _rotate(tensor, bases, back=False)  # (eq-soap-rotate)


def soap_project_back(tensor: torch.Tensor, bases: Factors) -> torch.Tensor:
    r"""Rotate back: :math:`N = Q_L N' Q_R^\top` (the inverse of :func:`soap_project`, as each :math:`Q` is
    orthogonal)."""
    return _rotate(tensor, bases, back=True)  # (eq-soap-rotate), inverse


@torch.no_grad()
def soap_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    bases: Factors,
    *,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.95, 0.95),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    normalize_grads: bool = False,
    correct_bias: bool = True,
    shape: Optional[Sequence[int]] = None,
) -> None:
    r"""One Adam step in the rotated basis (everything of the module docstring except :math:`L, R` and :math:`Q`).

    .. math::

        G' &= Q_L^\top G\, Q_R  && \text{(eq-soap-rotate)} \\
        M &\leftarrow \beta_1 M + (1-\beta_1) G, \qquad V \leftarrow \beta_2 V + (1-\beta_2)\, G' \odot G' \\
        N &= Q_L \frac{Q_L^\top M Q_R}{\sqrt{V} + \epsilon} Q_R^\top,
            \qquad N \leftarrow \frac{N}{\mathrm{RMS}(N) + 10^{-30}} \ \text{if normalize\_grads} \\
        \theta &\leftarrow \Bigl(\theta - \gamma\, \tfrac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\, N\Bigr)(1-\gamma\lambda)
            && \text{(eq-soap-update)}

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`G` (not modified).
        exp_avg: :math:`M`, in the parameter's shape and basis, updated in place.
        exp_avg_sq: :math:`V`, in the parameter's shape but the rotated basis, updated in place.
        bases: :math:`Q_L, Q_R, \dots`, one per axis of ``shape`` (``None`` for an axis that is not rotated).
        step: :math:`t \ge 1`, the Adam step count (the initialising call does not count).
        lr, betas, eps, weight_decay, normalize_grads, correct_bias: as in :class:`SOAP`; :math:`\gamma` = ``lr``,
            :math:`\lambda` = ``weight_decay``.
        shape: the working shape the bases act on (the merged shape with ``merge_dims``; default: the
            parameter's own shape).
    """
    beta1, beta2 = betas
    shape = list(param.shape) if shape is None else list(shape)
    grad_rot = soap_project(grad.reshape(shape), bases)  # (eq-soap-rotate)
    exp_avg.lerp_(grad, 1 - beta1)  # M = beta1 M + (1 - beta1) G (original basis)
    exp_avg_sq.lerp_(grad_rot.square().reshape(exp_avg_sq.shape), 1 - beta2)  # V (rotated basis)
    denom = exp_avg_sq.sqrt().add_(eps).reshape(shape)
    exp_avg_rot = soap_project(exp_avg.reshape(shape), bases)  # M' = Q_L^T M Q_R
    direction = soap_project_back(exp_avg_rot / denom, bases).reshape(param.shape)  # (eq-soap-update)
    if normalize_grads:
        direction = direction / (1e-30 + direction.square().mean().sqrt())  # unit RMS per parameter
    step_size = lr
    if correct_bias:
        step_size = lr * (1 - beta2**step) ** 0.5 / (1 - beta1**step)  # (eq-adam-bias-correction)
    param.add_(direction, alpha=-step_size)  # (eq-soap-update)
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)  # decoupled decay after the step (eq-decoupled-decay)


class SOAP(Shell):
    r"""SOAP: Adam run in the slowly refreshed eigenbasis of Shampoo's preconditioner.

    The math is in the pure functions :func:`soap_update`, :func:`soap_update_preconditioner`,
    :func:`soap_init_eigenbases` and :func:`soap_refresh_eigenbases` (module docstring: the whole step); this class
    only manages parameter groups, state and validation. It reproduces the authors' SOAP (checked against
    ``pytorch_optimizer.SOAP``, with the differences listed in the module docstring).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\gamma` (default ``3e-3``).
        betas: :math:`(\beta_1, \beta_2)` of Adam in the rotated basis (default ``(0.95, 0.95)``).
        shampoo_beta: :math:`\beta_s` of the statistics :math:`L, R`; a negative value (default ``-1``) means
            :math:`\beta_s = \beta_2`.
        eps: :math:`\epsilon` added to :math:`\sqrt{V}` (default ``1e-8``).
        weight_decay: decoupled decay :math:`\lambda`, :math:`\theta \leftarrow (1-\gamma\lambda)\theta` after the
            step (default ``0.01``).
        precondition_frequency: refresh the eigenbases every :math:`f` steps (default ``10``).
        max_precond_dim: axes longer than this get no statistic (plain Adam along them) (default ``10000``).
        merge_dims: merge neighbouring small axes of a tensor (a conv kernel) before building statistics, see
            :func:`soap_merged_shape` (default ``False``).
        precondition_1d: rotate 1-D parameters too (one statistic :math:`gg^\top`) (default ``False``).
        normalize_grads: rescale each parameter's step :math:`N` to unit RMS (default ``False``).
        correct_bias: Adam's bias correction :math:`\sqrt{1-\beta_2^t}/(1-\beta_1^t)` (default ``True``).
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.

    State per parameter: ``step`` (Adam steps taken, 0 after the initialising call), ``exp_avg`` (:math:`M`),
    ``exp_avg_sq`` (:math:`V`, rotated basis), ``GG`` (the statistics :math:`L, R, \dots`, ``None`` where an axis
    is not preconditioned) and ``Q`` (their eigenbases).

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> layer = torch.nn.Linear(4, 3)
        >>> opt = SOAP(layer.parameters(), lr=1e-2)
        >>> for _ in range(3):
        ...     opt.zero_grad()
        ...     layer(torch.randn(8, 4)).pow(2).mean().backward()
        ...     opt.step()
        >>> opt.state[layer.weight]["step"], [q.shape for q in opt.state[layer.weight]["Q"]]
        (2, [torch.Size([3, 3]), torch.Size([4, 4])])

    References:
        Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson & Kakade (2024), *SOAP: Improving and
        Stabilizing Shampoo using Adam*, arXiv:2409.11321 (code: github.com/nikhilvyas/SOAP); Gupta, Koren & Singer
        (2018), *Shampoo*.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 3e-3,
        betas: tuple[float, float] = (0.95, 0.95),
        shampoo_beta: float = -1,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        precondition_frequency: int = 10,
        max_precond_dim: int = 10000,
        merge_dims: bool = False,
        precondition_1d: bool = False,
        normalize_grads: bool = False,
        correct_bias: bool = True,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas("betas", betas)
        if not (isinstance(shampoo_beta, (int, float)) and not isinstance(shampoo_beta, bool)
                and shampoo_beta == shampoo_beta and shampoo_beta < 0):  # NaN fails shampoo_beta == shampoo_beta
            check_unit_interval("shampoo_beta", shampoo_beta)  # otherwise a negative number means "use betas[1]"
        check_nonnegative("eps", eps)
        check_nonnegative("weight_decay", weight_decay)
        check_positive_int("precondition_frequency", precondition_frequency)
        check_positive_int("max_precond_dim", max_precond_dim)
        check_bool("merge_dims", merge_dims)
        check_bool("precondition_1d", precondition_1d)
        check_bool("normalize_grads", normalize_grads)
        check_bool("correct_bias", correct_bias)
        defaults = dict(
            lr=lr, betas=tuple(betas), shampoo_beta=shampoo_beta, eps=eps, weight_decay=weight_decay,
            precondition_frequency=precondition_frequency, max_precond_dim=max_precond_dim, merge_dims=merge_dims,
            precondition_1d=precondition_1d, normalize_grads=normalize_grads, correct_bias=correct_bias,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _step_group(self, group: dict) -> None:
        # not one update per tensor: the first call only initialises, and the statistics and bases follow the step
        shampoo_beta = group["shampoo_beta"] if group["shampoo_beta"] >= 0 else group["betas"][1]
        for param, grad, state in self._with_grad(group):
            shape = _working_shape(param.shape, group["merge_dims"], group["max_precond_dim"])
            if not state:  # first call: statistics and eigenbases from this gradient, no step
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(param)
                state["exp_avg_sq"] = torch.zeros_like(param)
                state["GG"] = soap_init_factors(
                    param.shape, dtype=param.dtype, device=param.device,
                    max_precond_dim=group["max_precond_dim"], precondition_1d=group["precondition_1d"],
                    merge_dims=group["merge_dims"],
                )
                soap_update_preconditioner(state["GG"], grad.reshape(shape), shampoo_beta=shampoo_beta)
                state["Q"] = soap_init_eigenbases(state["GG"])
                continue
            state["step"] += 1
            soap_update(
                param, grad, state["exp_avg"], state["exp_avg_sq"], state["Q"], shape=shape,
                step=state["step"], lr=scalar(group["lr"]), betas=group["betas"], eps=group["eps"],
                weight_decay=group["weight_decay"], normalize_grads=group["normalize_grads"],
                correct_bias=group["correct_bias"],
            )
            # the statistics see the gradient only after it was used: the step never rotates G by its own basis
            soap_update_preconditioner(state["GG"], grad.reshape(shape), shampoo_beta=shampoo_beta)
            if state["step"] % group["precondition_frequency"] == 0:
                state["Q"], exp_avg_sq = soap_refresh_eigenbases(
                    state["GG"], state["Q"], state["exp_avg_sq"].reshape(shape)
                )
                state["exp_avg_sq"] = exp_avg_sq.reshape(param.shape)
