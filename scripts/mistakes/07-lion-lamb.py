"""Simulated students for 07-lion-lamb (lion_lamb.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "07-lion-lamb"

VARIANTS = [
    Variant("lion-sign-in-momentum", (Edit("lion_step", "new_buf = beta2 * buf + (1 - beta2) * grad",
                                           "new_buf = beta2 * buf + (1 - beta2) * torch.sign(grad)"),),
            why="averages the signs of the gradients in the momentum instead of the raw gradients",
            says='a Lion momentum that averages signs',
            look="Lion's momentum averages the raw gradients; only the update takes the sign",
            section='sec-lion-update'),
    Variant("lion-momentum-first", (Edit("lion_step", None,
                                         "def lion_step(param, grad, buf, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):\n"
                                         "    beta1, beta2 = betas\n"
                                         "    if buf is None:\n"
                                         "        buf = torch.zeros_like(param)\n"
                                         "    buf = beta2 * buf + (1 - beta2) * grad\n"
                                         "    c = beta1 * buf + (1 - beta1) * grad\n"
                                         "    return param - lr * (torch.sign(c) + weight_decay * param), buf\n"),),
            why="updates the momentum before the interpolation, so c_t uses m_t instead of m_{t-1}",
            says='a Lion that updates the momentum before the interpolation',
            look="the update's interpolation uses m_{t-1}; the momentum is updated afterwards",
            section='sec-lion-update'),
    Variant("lion-betas-swapped", (Edit("lion_step", "beta1, beta2 = betas", "beta2, beta1 = betas"),),
            why="swaps the roles of beta1 (interpolation) and beta2 (momentum decay)",
            says='Lion with beta1 and beta2 swapped',
            look='beta1 interpolates for the update, beta2 decays the momentum',
            section='sec-lion-update'),
    Variant("lion-slides-eq14", (Edit("lion_step", "c = beta1 * buf + (1 - beta1) * grad",
                                      "c = beta2 * buf + (1 - beta2) * grad"),),
            why="the slides' single-beta Lion: the sign of the new momentum m_t",
            says="the slides' single-beta Lion (eq. 14)",
            look='the update takes the sign of an interpolation of m_{t-1} and g_t with beta1, not of the new momentum',
            section='sec-lion-slides'),
    Variant("lion-decay-without-lr", (Edit("lion_step", "param - lr * (torch.sign(c) + weight_decay * param)",
                                           "param * (1 - weight_decay) - lr * torch.sign(c)"),),
            why="shrinks by lambda instead of lr * lambda",
            says='a Lion decay that shrinks by lambda instead of lr * lambda',
            look="Lion's decoupled decay is multiplied by the learning rate",
            section='sec-lion-weight-decay'),
    Variant("trust-ratio-zero-norm", (Edit("lamb_trust_ratio", "return 1.0", "return 0.0"),),
            why="a zero norm gives ratio 0 instead of 1: a tensor initialised to zeros never moves",
            says='a trust ratio of 0 where a norm is 0',
            look='when either norm is zero the ratio is 1, so the step is not switched off',
            section='sec-lamb-update'),
    Variant("trust-ratio-inverted", (Edit("lamb_trust_ratio", "(param_norm / update_norm)",
                                          "(update_norm / param_norm)"),),
            why="||r|| / ||theta|| instead of ||theta|| / ||r||",
            says='an inverted trust ratio',
            look="the ratio is the parameter's norm over the update's norm",
            section='sec-lamb-update'),
    Variant("trust-ratio-per-row", (Edit("lamb_trust_ratio", None,
                                         "def lamb_trust_ratio(param, update):\n"
                                         "    p = param.norm(dim=-1, keepdim=True) if param.dim() > 1 else param.norm()\n"
                                         "    u = update.norm(dim=-1, keepdim=True) if update.dim() > 1 else update.norm()\n"
                                         "    if (p > 0).all() and (u > 0).all():\n"
                                         "        return (p / u).mean().item()\n"
                                         "    return 1.0\n"),),
            why="norms per row of a matrix instead of over the whole tensor",
            says='a trust ratio per row',
            look="LAMB's norms are over the whole tensor (one layer), not per row",
            section='sec-lamb-update'),
    Variant("lamb-decay-in-gradient", (
        Edit("lamb_step", "    state[\"step\"] += 1\n", "    grad = grad + weight_decay * param\n    state[\"step\"] += 1\n"),
        Edit("lamb_step", "update = m_hat / (v_hat.sqrt() + eps) + weight_decay * param",
             "update = m_hat / (v_hat.sqrt() + eps)"),
    ), why="adds the weight decay to the gradient (Adam's L2 penalty) instead of to the update",
            says='LAMB with the decay in the gradient',
            look="the weight decay is added to Adam's direction (the update r), not to the gradient",
            section='sec-lamb-update'),
    Variant("lamb-no-bias-correction", (Edit("lamb_step", "m_hat = state[\"exp_avg\"] / (1 - beta1 ** t)\n"
                                                          "    v_hat = state[\"exp_avg_sq\"] / (1 - beta2 ** t)",
                                             "m_hat = state[\"exp_avg\"]\n    v_hat = state[\"exp_avg_sq\"]"),),
            why="drops Adam's bias correction (some LAMB implementations do; the assignment's variant has it)",
            says='LAMB without bias correction',
            look="the assignment's LAMB bias-corrects m and v as Adam does",
            section='sec-lamb-update'),
    Variant("lamb-ratio-from-gradient", (Edit("lamb_step", "lamb_trust_ratio(param, update)",
                                              "lamb_trust_ratio(param, grad)"),),
            why="LARS-style ratio ||theta|| / ||g|| instead of ||theta|| / ||r||",
            says='a LARS-style trust ratio from the gradient',
            look="LAMB's ratio divides the parameter's norm by the norm of the update, not of the gradient",
            section='sec-lamb-update'),
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
            why="applies the weight decay separately, after the trust ratio (AdamW-style)",
            says='LAMB with the decay outside the trust ratio',
            look='the decay is part of the update that the trust ratio scales',
            section='sec-lamb-update'),
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
