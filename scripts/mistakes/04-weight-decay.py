"""Simulated students for 04-weight-decay (weight_decay.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "04-weight-decay"

VARIANTS = [
    Variant("l2-after-momentum", (Edit("sgd_l2_step", None,
                                       "def sgd_l2_step(param, grad, buf, lr, momentum, weight_decay):\n"
                                       "    new_buf = grad.clone() if buf is None else momentum * buf + grad\n"
                                       "    return param - lr * (new_buf + weight_decay * param), new_buf\n"),),
            why="adds the penalty after the momentum buffer (that is decoupled decay, not L2)"),
    Variant("decoupled-without-lr", (Edit("sgd_decoupled_step", "param - lr * weight_decay * param",
                                          "param - weight_decay * param"),),
            why="shrinks by lambda instead of eta*lambda"),
    Variant("decoupled-into-buffer", (Edit("sgd_decoupled_step", None,
                                           "def sgd_decoupled_step(param, grad, buf, lr, momentum, weight_decay):\n"
                                           "    g = grad + weight_decay * param\n"
                                           "    new_buf = g.clone() if buf is None else momentum * buf + g\n"
                                           "    return param - lr * new_buf, new_buf\n"),),
            why="coupled: puts the decay into the buffer (the L2 step again)"),
    Variant("adam-l2-after-direction", (Edit("adam_l2_step", None,
                                             "def adam_l2_step(param, grad, state, lr, betas, eps, weight_decay):\n"
                                             "    d = adam_direction(grad, state, betas, eps)\n"
                                             "    return param - lr * (d + weight_decay * param)\n"),),
            why="adds the penalty outside the adaptive scaling (AdamW, not Adam's L2)"),
    Variant("adamw-coupled", (Edit("adam_decoupled_step", None,
                                   "def adam_decoupled_step(param, grad, state, lr, betas, eps, weight_decay):\n"
                                   "    g = grad + weight_decay * param\n"
                                   "    return param - lr * adam_direction(g, state, betas, eps)\n"),),
            why="coupled instead of decoupled decay: Adam with L2"),
    Variant("adamw-decay-after-update", (Edit("adam_decoupled_step", "return param - lr * weight_decay * param - lr * direction",
                                              "new = param - lr * direction\n"
                                              "    return new - lr * weight_decay * new"),),
            why="shrinks theta_t after the step instead of theta_{t-1}"),
    Variant("alt-in-place", (
        Edit("sgd_decoupled_step", None,
             "def sgd_decoupled_step(param, grad, buf, lr, momentum, weight_decay):\n"
             "    if buf is None:\n"
             "        buf = torch.zeros_like(grad)\n"
             "    buf.mul_(momentum).add_(grad)\n"
             "    param.mul_(1 - lr * weight_decay).sub_(lr * buf)\n"
             "    return param, buf\n"),
        Edit("adam_decoupled_step", None,
             "def adam_decoupled_step(param, grad, state, lr, betas, eps, weight_decay):\n"
             "    step = adam_direction(grad, state, betas, eps)\n"
             "    param.mul_(1 - lr * weight_decay)\n"
             "    param.add_(step, alpha=-lr)\n"
             "    return param\n"),
        Edit("sgd_l2_step", None,
             "def sgd_l2_step(param, grad, buf, lr, momentum, weight_decay):\n"
             "    g = grad.add(param, alpha=weight_decay)\n"
             "    buf = g if buf is None else buf.mul(momentum).add(g)\n"
             "    return param.sub(buf, alpha=lr), buf\n"),
    ), full_marks=True, why="in-place shrink-then-step, tensor methods instead of operators"),
]
