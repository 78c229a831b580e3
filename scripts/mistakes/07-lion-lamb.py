"""Simulated students for 07-lion-lamb (lion_lamb.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "07-lion-lamb"

VARIANTS = [
    Variant("lion-sign-in-momentum", (Edit("lion_step", "new_buf = beta2 * buf + (1 - beta2) * grad",
                                           "new_buf = beta2 * buf + (1 - beta2) * torch.sign(grad)"),),
            why="averages the signs of the gradients in the momentum instead of the raw gradients"),
    Variant("lion-momentum-first", (Edit("lion_step", None,
                                         "def lion_step(param, grad, buf, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):\n"
                                         "    beta1, beta2 = betas\n"
                                         "    if buf is None:\n"
                                         "        buf = torch.zeros_like(param)\n"
                                         "    buf = beta2 * buf + (1 - beta2) * grad\n"
                                         "    c = beta1 * buf + (1 - beta1) * grad\n"
                                         "    return param - lr * (torch.sign(c) + weight_decay * param), buf\n"),),
            why="updates the momentum before the interpolation, so c_t uses m_t instead of m_{t-1}"),
    Variant("lion-betas-swapped", (Edit("lion_step", "beta1, beta2 = betas", "beta2, beta1 = betas"),),
            why="swaps the roles of beta1 (interpolation) and beta2 (momentum decay)"),
    Variant("lion-slides-eq14", (Edit("lion_step", "c = beta1 * buf + (1 - beta1) * grad",
                                      "c = beta2 * buf + (1 - beta2) * grad"),),
            why="the slides' single-beta Lion: the sign of the new momentum m_t"),
    Variant("lion-decay-without-lr", (Edit("lion_step", "param - lr * (torch.sign(c) + weight_decay * param)",
                                           "param * (1 - weight_decay) - lr * torch.sign(c)"),),
            why="shrinks by lambda instead of lr * lambda"),
    Variant("trust-ratio-zero-norm", (Edit("lamb_trust_ratio", "return 1.0", "return 0.0"),),
            why="a zero norm gives ratio 0 instead of 1: a tensor initialised to zeros never moves"),
    Variant("trust-ratio-inverted", (Edit("lamb_trust_ratio", "(param_norm / update_norm)",
                                          "(update_norm / param_norm)"),),
            why="||r|| / ||theta|| instead of ||theta|| / ||r||"),
    Variant("trust-ratio-per-row", (Edit("lamb_trust_ratio", None,
                                         "def lamb_trust_ratio(param, update):\n"
                                         "    p = param.norm(dim=-1, keepdim=True) if param.dim() > 1 else param.norm()\n"
                                         "    u = update.norm(dim=-1, keepdim=True) if update.dim() > 1 else update.norm()\n"
                                         "    if (p > 0).all() and (u > 0).all():\n"
                                         "        return (p / u).mean().item()\n"
                                         "    return 1.0\n"),),
            why="norms per row of a matrix instead of over the whole tensor"),
    Variant("lamb-decay-in-gradient", (
        Edit("lamb_step", "    state[\"step\"] += 1\n", "    grad = grad + weight_decay * param\n    state[\"step\"] += 1\n"),
        Edit("lamb_step", "update = m_hat / (v_hat.sqrt() + eps) + weight_decay * param",
             "update = m_hat / (v_hat.sqrt() + eps)"),
    ), why="adds the weight decay to the gradient (Adam's L2 penalty) instead of to the update"),
    Variant("lamb-no-bias-correction", (Edit("lamb_step", "m_hat = state[\"exp_avg\"] / (1 - beta1 ** t)\n"
                                                          "    v_hat = state[\"exp_avg_sq\"] / (1 - beta2 ** t)",
                                             "m_hat = state[\"exp_avg\"]\n    v_hat = state[\"exp_avg_sq\"]"),),
            why="drops Adam's bias correction (some LAMB implementations do; the assignment's variant has it)"),
    Variant("lamb-ratio-from-gradient", (Edit("lamb_step", "lamb_trust_ratio(param, update)",
                                              "lamb_trust_ratio(param, grad)"),),
            why="LARS-style ratio ||theta|| / ||g|| instead of ||theta|| / ||r||"),
    Variant("lamb-decay-outside-ratio", (Edit("lamb_step", None,
                                              "def lamb_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,"
                                              " weight_decay=0.0):\n"
                                              "    b1, b2 = betas\n"
                                              "    t = state.get('t', 0) + 1\n"
                                              "    m = b1 * state.get('m', torch.zeros_like(param)) + (1 - b1) * grad\n"
                                              "    v = b2 * state.get('v', torch.zeros_like(param)) + (1 - b2) * grad ** 2\n"
                                              "    state.update(t=t, m=m, v=v)\n"
                                              "    adam = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)\n"
                                              "    return param - lr * lamb_trust_ratio(param, adam) * adam"
                                              " - lr * weight_decay * param\n"),),
            why="applies the weight decay separately, after the trust ratio (AdamW-style)"),
    Variant("alt-in-place", (
        Edit("lion_step", None,
             "def lion_step(param, grad, buf, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):\n"
             "    beta1, beta2 = betas\n"
             "    m = torch.zeros_like(param) if buf is None else buf\n"
             "    param.mul_(1 - lr * weight_decay)  # decay first: the sign step does not depend on theta\n"
             "    param.add_(torch.lerp(grad, m, beta1).sign(), alpha=-lr)\n"
             "    m.lerp_(grad, 1 - beta2)\n"
             "    return param, m\n"),
        Edit("lamb_trust_ratio", None,
             "def lamb_trust_ratio(param, update):\n"
             "    a = float((param * param).sum()) ** 0.5\n"
             "    b = float((update * update).sum()) ** 0.5\n"
             "    return a / b if a and b else 1.0\n"),
        Edit("lamb_step", None,
             "def lamb_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):\n"
             "    b1, b2 = betas\n"
             "    if 't' not in state:\n"
             "        state.update(t=0, m=torch.zeros_like(param), v=torch.zeros_like(param))\n"
             "    state['t'] += 1\n"
             "    t = state['t']\n"
             "    state['m'].lerp_(grad, 1 - b1)\n"
             "    state['v'].mul_(b2).addcmul_(grad, grad, value=1 - b2)\n"
             "    denom = state['v'].sqrt() / (1 - b2 ** t) ** 0.5 + eps\n"
             "    r = state['m'] / (1 - b1 ** t) / denom\n"
             "    r.add_(param, alpha=weight_decay)\n"
             "    param.sub_(lr * lamb_trust_ratio(param, r) * r)\n"
             "    return param\n"),
    ), full_marks=True, why="in-place lerp/addcmul, decay applied first in Lion, norms via sums of squares"),
]
