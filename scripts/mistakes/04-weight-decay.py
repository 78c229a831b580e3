"""Simulated students for 04-weight-decay (weight_decay.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "04-weight-decay"

VARIANTS = [
    Variant("l2-after-momentum", (Edit("sgd_l2_step", None,
                                       "def sgd_l2_step(param, grad, buf, lr, momentum, weight_decay):\n"
                                       "    new_buf = grad.clone() if buf is None else momentum * buf + grad\n"
                                       "    return param - lr * (new_buf + weight_decay * param), new_buf\n"),),
            why="adds the penalty after the momentum buffer (that is decoupled decay, not L2)",
            says='decoupled decay where the L2 penalty was asked for',
            look='the L2 penalty is part of the gradient, so it goes into the momentum buffer',
            section='sec-l2-penalty'),
    Variant("decoupled-without-lr", (Edit("sgd_decoupled_step", "param - lr * weight_decay * param",
                                          "param - weight_decay * param"),),
            why="shrinks by lambda instead of eta*lambda",
            says='a decay that shrinks by lambda instead of lr * lambda',
            look='decoupled decay shrinks the weights by the learning rate times weight_decay at each step',
            section='sec-decoupled-decay'),
    Variant("decoupled-into-buffer", (Edit("sgd_decoupled_step", None,
                                           "def sgd_decoupled_step(param, grad, buf, lr, momentum, weight_decay):\n"
                                           "    g = grad + weight_decay * param\n"
                                           "    new_buf = g.clone() if buf is None else momentum * buf + g\n"
                                           "    return param - lr * new_buf, new_buf\n"),),
            why="coupled: puts the decay into the buffer (the L2 step again)",
            says='the L2 penalty where decoupled decay was asked for',
            look='decoupled decay shrinks the weights directly and stays out of the momentum buffer',
            section='sec-decoupled-decay'),
    Variant("adam-l2-after-direction", (Edit("adam_l2_step", None,
                                             "def adam_l2_step(param, grad, state, lr, betas, eps, weight_decay):\n"
                                             "    d = adam_direction(grad, state, betas, eps)\n"
                                             "    return param - lr * (d + weight_decay * param)\n"),),
            why="adds the penalty outside the adaptive scaling (AdamW, not Adam's L2)",
            says="AdamW's decay where Adam's L2 penalty was asked for",
            look='the L2 penalty is added to the gradient before the adaptive scaling, so it is rescaled with it',
            section='sec-adam-l2-vs-adamw'),
    Variant("adamw-coupled", (Edit("adam_decoupled_step", None,
                                   "def adam_decoupled_step(param, grad, state, lr, betas, eps, weight_decay):\n"
                                   "    g = grad + weight_decay * param\n"
                                   "    return param - lr * adam_direction(g, state, betas, eps)\n"),),
            why="coupled instead of decoupled decay: Adam with L2",
            says='Adam with an L2 penalty where decoupled decay was asked for',
            look="decoupled decay shrinks the weights outside Adam's direction; added to the gradient it is rescaled by the adaptive step",
            section='sec-adam-l2-vs-adamw'),
    Variant("adamw-decay-after-update", (Edit("adam_decoupled_step", "return param - lr * weight_decay * param - lr * direction",
                                              "new = param - lr * direction\n"
                                              "    return new - lr * weight_decay * new"),),
            why="shrinks theta_t after the step instead of theta_{t-1}",
            says='a decay applied to the new weights',
            look='the shrink uses theta_{t-1}, the weights before this step',
            section='sec-decoupled-decay'),
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
