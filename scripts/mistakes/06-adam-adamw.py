"""Simulated students for 06-adam-adamw (adam_adamw.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "06-adam-adamw"

VARIANTS = [
    Variant("eps-inside-sqrt", (Edit("adam_step", "(v_hat.sqrt() + eps)", "(v_hat + eps).sqrt()"),),
            why="the slides' eq. 12: eps inside the root",
            says="Adam with eps inside the square root (the slides' eq. 12)",
            look='eps is added after the square root of v_hat',
            section='sec-adam-eps-inside-root'),
    Variant("no-bias-correction", (Edit("adam_step", None,
                                        "def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,"
                                        " weight_decay=0.0, amsgrad=False):\n"
                                        "    b1, b2 = betas\n"
                                        "    if weight_decay:\n"
                                        "        grad = grad + weight_decay * param\n"
                                        "    m = b1 * state.get('m', torch.zeros_like(param)) + (1 - b1) * grad\n"
                                        "    v = b2 * state.get('v', torch.zeros_like(param)) + (1 - b2) * grad ** 2\n"
                                        "    vmax = torch.maximum(state.get('vmax', torch.zeros_like(param)), v)\n"
                                        "    state.update(m=m, v=v, vmax=vmax)\n"
                                        "    return param - lr * m / ((vmax if amsgrad else v).sqrt() + eps)\n"),),
            why="forgets the bias correction",
            says='Adam without bias correction',
            look='the first steps are too small because m and v start at zero',
            section='sec-adam-bias-correction'),
    Variant("bias-correction-from-zero", (Edit("adam_step", "state[\"step\"] += 1\n    t = state[\"step\"]",
                                               "t = state[\"step\"]\n    state[\"step\"] += 1"),),
            why="counts steps from 0 in the bias correction (1 - beta^0 = 0 at the first step)",
            says='a bias correction that counts steps from 0',
            look='the step count t is 1 at the first step (1 - beta^0 is 0)',
            section='sec-adam-bias-correction'),
    Variant("moments-overwritten", (Edit("adam_step", "return param - lr * m_hat / (v_hat.sqrt() + eps)",
                                         "state[\"exp_avg\"], state[\"exp_avg_sq\"] = m_hat, v_hat\n"
                                         "    return param - lr * m_hat / (v_hat.sqrt() + eps)"),),
            why="the slides' notation coded literally: the running averages are replaced by their corrected values",
            says="the slides' Adam, which overwrites the moments",
            look='keep the running averages m and v in the state; their bias-corrected values are for the step only',
            section='sec-adam-overwritten-moments'),
    Variant("amsgrad-max-of-corrected", (Edit("adam_step", None,
                                              "def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,"
                                              " weight_decay=0.0, amsgrad=False):\n"
                                              "    b1, b2 = betas\n"
                                              "    if weight_decay:\n"
                                              "        grad = grad + weight_decay * param\n"
                                              "    t = state.get('t', 0) + 1\n"
                                              "    m = b1 * state.get('m', torch.zeros_like(param)) + (1 - b1) * grad\n"
                                              "    v = b2 * state.get('v', torch.zeros_like(param)) + (1 - b2) * grad ** 2\n"
                                              "    v_hat = v / (1 - b2 ** t)\n"
                                              "    if amsgrad:\n"
                                              "        v_hat = torch.maximum(state.get('vmax', torch.zeros_like(param)), v_hat)\n"
                                              "        state['vmax'] = v_hat\n"
                                              "    state.update(t=t, m=m, v=v)\n"
                                              "    return param - lr * m / (1 - b1 ** t) / (v_hat.sqrt() + eps)\n"),),
            why="AMSGrad maximum over the bias-corrected v_hat instead of the raw v (not what PyTorch does)",
            says="AMSGrad's maximum taken over the corrected v_hat",
            look='PyTorch keeps the maximum of the raw second moment and bias-corrects it afterwards',
            section='sec-amsgrad'),
    Variant("adamw-coupled", (Edit("adamw_step", None,
                                   "def adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,"
                                   " weight_decay=1e-2, amsgrad=False):\n"
                                   "    return adam_step(param, grad, state, lr=lr, betas=betas, eps=eps,"
                                   " weight_decay=weight_decay, amsgrad=amsgrad)\n"),),
            why="coupled instead of decoupled decay: this is Adam with an L2 penalty",
            says="Adam with an L2 penalty instead of AdamW's decoupled decay",
            look='AdamW shrinks the weights outside the adaptive step',
            section='sec-adamw'),
    Variant("adamw-decay-without-lr", (Edit("adamw_step", "param * (1 - lr * weight_decay)",
                                            "param * (1 - weight_decay)"),),
            why="the paper's lambda read as PyTorch's: shrinks by lambda, not lr * lambda",
            says='a decay that shrinks by lambda instead of lr * lambda',
            look="PyTorch's AdamW multiplies weight_decay by the learning rate",
            section='sec-adamw'),
    Variant("alt-in-place-folded", (
        Edit("adam_step", None,
             "def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):\n"
             "    beta1, beta2 = betas\n"
             "    if weight_decay:\n"
             "        grad = grad.add(param, alpha=weight_decay)\n"
             "    if 't' not in state:\n"
             "        state.update(t=0, m=torch.zeros_like(param), v=torch.zeros_like(param), vmax=torch.zeros_like(param))\n"
             "    state['t'] += 1\n"
             "    t = state['t']\n"
             "    state['m'].lerp_(grad, 1 - beta1)\n"
             "    state['v'].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)\n"
             "    v = state['v']\n"
             "    if amsgrad:\n"
             "        torch.maximum(state['vmax'], v, out=state['vmax'])\n"
             "        v = state['vmax']\n"
             "    # bias corrections folded into the step size and the denominator, as torch does\n"
             "    denom = v.sqrt() / (1 - beta2 ** t) ** 0.5 + eps\n"
             "    param.addcdiv_(state['m'], denom, value=-lr / (1 - beta1 ** t))\n"
             "    return param\n"),
        Edit("adamw_step", None,
             "def adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):\n"
             "    # the Adam step does not depend on theta when weight_decay=0, so shrink afterwards from the old value\n"
             "    old = param.clone()\n"
             "    new = adam_step(param, grad, state, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad)\n"
             "    return new - lr * weight_decay * old\n"),
    ), full_marks=True, why="in-place lerp/addcdiv with folded bias corrections; decay subtracted after the Adam step"),
]
