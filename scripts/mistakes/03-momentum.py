"""Simulated students for 03-momentum (momentum.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "03-momentum"

VARIANTS = [
    Variant("velocity-sign", (Edit("heavy_ball_velocity_step", "return param + new_velocity, new_velocity",
                                   "return param - new_velocity, new_velocity"),),
            why="subtracts a velocity that already points downhill"),
    Variant("velocity-lr-twice", (Edit("heavy_ball_velocity_step", "return param + new_velocity, new_velocity",
                                       "return param + lr * new_velocity, new_velocity"),),
            why="multiplies by the learning rate a second time"),
    Variant("ema-first-step-damped", (Edit("ema_momentum_step", "new_buf = grad.clone()", "new_buf = (1 - beta) * grad"),),
            why="damps the first step (v_1 = (1-beta) g_1) instead of PyTorch's v_1 = g_1"),
    Variant("ema-weights-swapped", (Edit("ema_momentum_step", "beta * buf + (1 - beta) * grad",
                                         "(1 - beta) * buf + beta * grad"),),
            why="swaps the weights of the average"),
    Variant("nesterov-old-buffer", (Edit("nesterov_step", "return param - lr * (grad + momentum * new_buf), new_buf",
                                         "old = grad if buf is None else buf\n"
                                         "    return param - lr * (grad + momentum * old), new_buf"),),
            why="looks ahead with b_{t-1} instead of b_t"),
    Variant("nesterov-is-heavy-ball", (Edit("nesterov_step", "param - lr * (grad + momentum * new_buf)",
                                            "param - lr * new_buf"),),
            why="forgets the extra gradient term: plain heavy ball"),
    Variant("lookahead-sign", (Edit("nesterov_lookahead_step", "param - lr * momentum * velocity",
                                    "param + lr * momentum * velocity"),),
            why="the slides' sign error: looks behind instead of ahead"),
    Variant("lookahead-no-lr", (Edit("nesterov_lookahead_step", "param - lr * momentum * velocity",
                                     "param - momentum * velocity"),),
            why="the slides' other error: the look-ahead lacks the learning rate"),
    Variant("lookahead-at-current-point", (Edit("nesterov_lookahead_step", "grad_fn(lookahead)", "grad_fn(param)"),),
            why="takes the gradient at theta_{t-1}: heavy ball again"),
    Variant("alt-algebra", (
        Edit("heavy_ball_velocity_step", None,
             "def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):\n"
             "    step = -lr * grad if velocity is None else momentum * velocity - lr * grad\n"
             "    param.add_(step)\n"
             "    return param, step\n"),
        Edit("ema_momentum_step", None,
             "def ema_momentum_step(param, grad, buf, lr, beta):\n"
             "    if buf is None:\n"
             "        buf = grad.clone()\n"
             "    else:\n"
             "        buf.lerp_(grad, 1 - beta)  # buf + (1 - beta) * (grad - buf)\n"
             "    param.sub_(lr * buf)\n"
             "    return param, buf\n"),
        Edit("nesterov_step", None,
             "def nesterov_step(param, grad, buf, lr, momentum):\n"
             "    # g + mu * b_t written as (1 + mu) g + mu^2 b_{t-1}, with b_0 = 0\n"
             "    old = torch.zeros_like(grad) if buf is None else buf\n"
             "    new_buf = momentum * old + grad\n"
             "    return param - lr * ((1 + momentum) * grad + momentum ** 2 * old), new_buf\n"),
    ), full_marks=True, why="in-place updates, lerp for the average, Nesterov expanded in b_{t-1}"),
]
