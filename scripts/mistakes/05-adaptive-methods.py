"""Simulated students for 05-adaptive-methods (adaptive_methods.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "05-adaptive-methods"

VARIANTS = [
    Variant("adagrad-eps-inside-sqrt", (Edit("adagrad_step", "(state[\"sum\"].sqrt() + eps)",
                                             "(state[\"sum\"] + eps).sqrt()"),),
            why="the slides' variant: eps inside the root, not PyTorch's",
            says="AdaGrad with eps inside the square root (the slides' form)",
            look='PyTorch adds eps after taking the root of the sum',
            section='sec-eps-inside-root'),
    Variant("adagrad-lr-decay-from-t", (Edit("adagrad_step", "(state[\"step\"] - 1) * lr_decay",
                                             "state[\"step\"] * lr_decay"),),
            why="decays the learning rate already at the first step",
            says='a learning-rate decay that already acts at the first step',
            look='the decay counts the steps before this one, t - 1',
            section='sec-adagrad'),
    Variant("adagrad-ignores-initial-value", (Edit("adagrad_step", "torch.full_like(param, initial_accumulator_value)",
                                                   "torch.zeros_like(param)"),),
            why="starts the sum at zero whatever initial_accumulator_value says",
            says='an accumulator that ignores initial_accumulator_value',
            look='the sum of squared gradients starts at initial_accumulator_value',
            section='sec-adagrad'),
    Variant("rmsprop-alpha-swapped", (Edit("rmsprop_step",
                                           "alpha * state[\"square_avg\"] + (1 - alpha) * grad * grad",
                                           "(1 - alpha) * state[\"square_avg\"] + alpha * grad * grad"),),
            why="swaps the weights of the moving average",
            says='a moving average with its weights swapped',
            look='alpha weights the old average and (1 - alpha) the new squared gradient',
            section='sec-rmsprop'),
    Variant("rmsprop-centered-unsquared", (Edit("rmsprop_step", "state[\"grad_avg\"] ** 2", "state[\"grad_avg\"].abs()"),),
            why="subtracts |mean gradient| instead of its square in the centered variant",
            says='a centered RMSprop that subtracts |mean gradient|',
            look="the centered variant subtracts the square of the gradient's running mean",
            section='sec-rmsprop'),
    Variant("rmsprop-momentum-lr-inside", (Edit("rmsprop_step",
                                                "momentum * state[\"momentum_buffer\"] + grad / denom\n"
                                                "        return param - lr * state[\"momentum_buffer\"]",
                                                "momentum * state[\"momentum_buffer\"] + lr * grad / denom\n"
                                                "        return param - lr * state[\"momentum_buffer\"]"),),
            why="puts the learning rate into the momentum buffer and applies it again",
            says='a learning rate applied twice with momentum',
            look='the momentum buffer accumulates the scaled gradient without the learning rate; the learning rate multiplies it once',
            section='sec-rmsprop'),
    Variant("adadelta-new-delta-average", (Edit("adadelta_step", None,
                                                "def adadelta_step(param, grad, state, lr=1.0, rho=0.9, eps=1e-6):\n"
                                                "    if not state:\n"
                                                "        state['sq'] = torch.zeros_like(param)\n"
                                                "        state['acc'] = torch.zeros_like(param)\n"
                                                "    state['sq'] = rho * state['sq'] + (1 - rho) * grad * grad\n"
                                                "    # wrong order: the update average is refreshed with the gradient first\n"
                                                "    state['acc'] = rho * state['acc'] + (1 - rho) * grad * grad\n"
                                                "    delta = (state['acc'] + eps).sqrt() / (state['sq'] + eps).sqrt() * grad\n"
                                                "    return param - lr * delta\n"),),
            why="uses a freshly updated average (of the wrong quantity) in the numerator instead of E[Delta^2]_{t-1}",
            says='an AdaDelta numerator built from the wrong average',
            look='the numerator uses the average of the squared updates of the previous steps, which is refreshed only after the update',
            section='sec-adadelta'),
    Variant("adadelta-numerator-without-eps", (Edit("adadelta_step", "(state[\"acc_delta\"] + eps).sqrt()",
                                                    "state[\"acc_delta\"].sqrt()"),),
            why="drops eps from the numerator: the first step is zero and the method never moves",
            says='an AdaDelta numerator without eps',
            look='eps goes inside both roots; without it the first update is zero and the method never moves',
            section='sec-adadelta'),
    Variant("adadelta-ignores-lr", (Edit("adadelta_step", "return param - lr * delta", "return param - delta"),),
            why="follows the paper, which has no learning rate; PyTorch multiplies by lr",
            says="the paper's AdaDelta, without a learning rate",
            look='PyTorch multiplies the update by lr',
            section='sec-adadelta'),
    Variant("alt-in-place", (
        Edit("adagrad_step", None,
             "def adagrad_step(param, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, initial_accumulator_value=0.0):\n"
             "    t = state.get('t', 0) + 1\n"
             "    state['t'] = t\n"
             "    acc = state.setdefault('acc', torch.full_like(param, initial_accumulator_value))\n"
             "    acc.addcmul_(grad, grad)\n"
             "    param.addcdiv_(grad, acc.sqrt().add_(eps), value=-lr / (1 + (t - 1) * lr_decay))\n"
             "    return param\n"),
        Edit("rmsprop_step", None,
             "def rmsprop_step(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):\n"
             "    sq = state.setdefault('sq', torch.zeros_like(param))\n"
             "    sq.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)\n"
             "    var = sq\n"
             "    if centered:\n"
             "        ga = state.setdefault('ga', torch.zeros_like(param))\n"
             "        ga.lerp_(grad, 1 - alpha)\n"
             "        var = sq - ga * ga\n"
             "    step = grad / (torch.sqrt(var) + eps)\n"
             "    if momentum:\n"
             "        buf = state.setdefault('buf', torch.zeros_like(param))\n"
             "        buf.mul_(momentum).add_(step)\n"
             "        step = buf\n"
             "    param.sub_(lr * step)\n"
             "    return param\n"),
        Edit("adadelta_step", None,
             "def adadelta_step(param, grad, state, lr=1.0, rho=0.9, eps=1e-6):\n"
             "    Eg2 = state.get('Eg2', torch.zeros_like(param))\n"
             "    Ed2 = state.get('Ed2', torch.zeros_like(param))\n"
             "    Eg2 = Eg2 + (1 - rho) * (grad ** 2 - Eg2)\n"
             "    delta = torch.sqrt((Ed2 + eps) / (Eg2 + eps)) * grad\n"
             "    state['Eg2'], state['Ed2'] = Eg2, Ed2 + (1 - rho) * (delta ** 2 - Ed2)\n"
             "    return param - lr * delta\n"),
    ), full_marks=True, why="in-place tensor methods, setdefault state, averages written as x + (1-rho)(y - x), one root of a ratio"),
]
