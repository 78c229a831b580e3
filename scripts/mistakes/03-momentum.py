"""Simulated students for 03-momentum (momentum.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "03-momentum"

VARIANTS = [
    Variant("velocity-sign", (Edit("heavy_ball_velocity_step", "return param + new_velocity, new_velocity",
                                   "return param - new_velocity, new_velocity"),),
            why="subtracts a velocity that already points downhill",
            says='a velocity subtracted instead of added',
            look='in the velocity form the velocity already contains -lr times the gradient, so the parameter moves by +v',
            section='sec-heavy-ball'),
    Variant("velocity-lr-twice", (Edit("heavy_ball_velocity_step", "return param + new_velocity, new_velocity",
                                       "return param + lr * new_velocity, new_velocity"),),
            why="multiplies by the learning rate a second time",
            says='the learning rate applied twice in the velocity form',
            look='the velocity already includes the learning rate; the parameter moves by the velocity itself',
            section='sec-heavy-ball'),
    Variant("ema-first-step-damped", (Edit("ema_momentum_step", "new_buf = grad.clone()", "new_buf = (1 - beta) * grad"),),
            why="damps the first step (v_1 = (1-beta) g_1) instead of PyTorch's v_1 = g_1",
            says='a damped first step of the EMA',
            look="PyTorch's buffer starts as the first gradient itself, not (1 - beta) times it",
            section='sec-momentum-ema'),
    Variant("ema-weights-swapped", (Edit("ema_momentum_step", "beta * buf + (1 - beta) * grad",
                                         "(1 - beta) * buf + beta * grad"),),
            why="swaps the weights of the average",
            says='an average with its weights swapped',
            look='the old buffer is weighted by beta and the new gradient by (1 - beta)',
            section='sec-momentum-ema'),
    Variant("nesterov-old-buffer", (Edit("nesterov_step", "return param - lr * (grad + momentum * new_buf), new_buf",
                                         "old = grad if buf is None else buf\n"
                                         "    return param - lr * (grad + momentum * old), new_buf"),),
            why="looks ahead with b_{t-1} instead of b_t",
            says='a look-ahead with the previous buffer',
            look="Nesterov's step uses the buffer updated at this step, b_t",
            section='sec-nesterov'),
    Variant("nesterov-is-heavy-ball", (Edit("nesterov_step", "param - lr * (grad + momentum * new_buf)",
                                            "param - lr * new_buf"),),
            why="forgets the extra gradient term: plain heavy ball",
            says='plain heavy-ball momentum where Nesterov was asked for',
            look="Nesterov's step adds the current gradient to momentum times the new buffer; the buffer alone is the heavy ball",
            section='sec-nesterov'),
    Variant("lookahead-sign", (Edit("nesterov_lookahead_step", "param - lr * momentum * velocity",
                                    "param + lr * momentum * velocity"),),
            why="the slides' sign error: looks behind instead of ahead",
            says="the slides' sign error in the look-ahead",
            look='the look-ahead point lies where the velocity is taking the parameters, not behind them',
            section='sec-nesterov-lookahead'),
    Variant("lookahead-no-lr", (Edit("nesterov_lookahead_step", "param - lr * momentum * velocity",
                                     "param - momentum * velocity"),),
            why="the slides' other error: the look-ahead lacks the learning rate",
            says='a look-ahead without the learning rate',
            look='the look-ahead moves by the learning rate times momentum times the velocity (the slides drop the learning rate)',
            section='sec-nesterov-lookahead'),
    Variant("lookahead-at-current-point", (Edit("nesterov_lookahead_step", "grad_fn(lookahead)", "grad_fn(param)"),),
            why="takes the gradient at theta_{t-1}: heavy ball again",
            says='the heavy ball: a gradient taken at the current point',
            look='Nesterov takes the gradient at the look-ahead point, not at theta_{t-1}',
            section='sec-nesterov-lookahead'),
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
