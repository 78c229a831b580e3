"""Simulated students for 02-gradient-descent (gradient_descent.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "02-gradient-descent"

VARIANTS = [
    Variant("gd-ascent", (Edit("gd_step", "param - lr * grad", "param + lr * grad"),),
            why="steps up the gradient (sign error)",
            says='a step up the gradient instead of down',
            look='check the sign of the update: gradient descent moves against the gradient',
            section='sec-gd-update'),
    Variant("minibatch-drops-tail",
            (Edit("minibatches", "range(0, n, batch_size)", "range(0, n - batch_size + 1, batch_size)"),),
            why="off-by-one range: the last, smaller batch is always lost",
            says='mini-batches that lose the last, smaller batch',
            look='check where the batches start: when n is not a multiple of batch_size the last batch is shorter, and it is still used unless drop_last is set',
            section='sec-gd-update'),
    Variant("minibatch-unseeded-shuffle",
            (Edit("minibatches", "order = torch.randperm(n, generator=generator)", "order = torch.randperm(n)"),),
            why="ignores the generator, so the epoch cannot be reproduced",
            says='a shuffle that ignores the generator',
            look='draw the permutation from the generator you were given, so that the same seed gives the same epoch',
            section='sec-gd-update', random=True),
    Variant("momentum-dampened",
            (Edit("sgd_momentum_step", "momentum * buf + grad", "momentum * buf + (1 - momentum) * grad"),),
            why="EMA buffer where the heavy ball was asked for",
            says="an averaged (dampened) buffer instead of the heavy ball's sum",
            look='the heavy-ball buffer adds the whole gradient to momentum times the old buffer; weighting the gradient by (1 - momentum) is the EMA form',
            section='sec-heavy-ball'),
    Variant("momentum-stale-buffer",
            (Edit("sgd_momentum_step", "return param - lr * new_buf, new_buf",
                  "return param - lr * (new_buf if buf is None else buf), new_buf"),),
            why="moves with the previous buffer b_{t-1} instead of b_t",
            says='a step with the previous buffer',
            look='the parameter moves with the buffer updated at this step, b_t, not b_{t-1}',
            section='sec-heavy-ball'),
    Variant("momentum-lr-in-buffer",
            (Edit("sgd_momentum_step", "momentum * buf + grad", "momentum * buf + lr * grad"),),
            why="folds the learning rate into the buffer and applies it again",
            says='a learning rate applied twice',
            look='the buffer accumulates gradients only; the learning rate multiplies it once, in the parameter update',
            section='sec-heavy-ball'),
    Variant("alt-in-place", (
        Edit("gd_step", None, "def gd_step(param, grad, lr):\n    param.sub_(grad, alpha=lr)\n    return param\n"),
        Edit("sgd_momentum_step", None,
             "def sgd_momentum_step(param, grad, buf, lr, momentum):\n"
             "    # a zero buffer gives b_1 = mu * 0 + g_1 = g_1, the same first step\n"
             "    if buf is None:\n"
             "        buf = torch.zeros_like(param)\n"
             "    buf.mul_(momentum).add_(grad)\n"
             "    param.add_(buf, alpha=-lr)\n"
             "    return param, buf\n"),
        Edit("minibatches", None,
             "def minibatches(X, y, batch_size, shuffle=False, generator=None, drop_last=False):\n"
             "    if batch_size < 1:\n"
             "        raise ValueError('batch_size must be positive')\n"
             "    n = len(X)\n"
             "    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))\n"
             "    chunks = [order[i:i + batch_size] for i in range(0, n, batch_size)]\n"
             "    if drop_last and chunks and len(chunks[-1]) < batch_size:\n"
             "        chunks.pop()\n"
             "    return iter([(X[c], y[c]) for c in chunks])\n"),
    ), full_marks=True, why="in-place updates, a zero-initialised buffer, a list-based iterator"),
]
