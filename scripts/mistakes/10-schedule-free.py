"""Simulated students for 10-schedule-free (schedule_free.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "10-schedule-free"

VARIANTS = [
    Variant("weight-warmup-from-zero", (Edit("sf_weight", "lr * (step + 1) / warmup_steps", "lr * step / warmup_steps"),),
            why="warm-up divides step (from 0) instead of step + 1: the first step has learning rate 0",
            says='a warm-up whose first step has learning rate 0',
            look='steps count from 0, so the warm-up uses step + 1',
            section='sec-sf-sequences'),
    Variant("weight-current-lr", (Edit("sf_weight", "weight = (step + 1) ** r * lr_max ** weight_lr_power",
                                       "weight = (step + 1) ** r * lr_t ** weight_lr_power"),),
            why="weights by the current learning rate instead of the largest so far",
            says='averaging weights from the current learning rate',
            look='the weight uses the largest learning rate so far',
            section='sec-sf-sequences'),
    Variant("weight-step-from-zero", (Edit("sf_weight", "weight = (step + 1) ** r", "weight = step ** r"),),
            why="polynomial weight t^r instead of (t + 1)^r: the first iterate gets weight 0 when r > 0",
            says='a polynomial weight t^r from t = 0',
            look='the weight is (t + 1)^r, so that the first iterate counts',
            section='sec-sf-sequences'),
    Variant("sgd-decay-at-z", (Edit("sf_sgd_step", "g = grad + weight_decay * param",
                                    "g = grad + weight_decay * state[\"z\"]"),),
            why="the L2 penalty taken at z instead of at y, where the gradient is taken",
            says='an L2 penalty taken at z',
            look='the gradient and its penalty are taken at y, where the gradient is evaluated',
            section='sec-sf-sequences'),
    Variant("sgd-interpolation-swapped", (Edit("sf_sgd_step", "return (1 - momentum) * state[\"z\"] + momentum * state[\"x\"]",
                                               "return momentum * state[\"z\"] + (1 - momentum) * state[\"x\"]"),),
            why="y = beta z + (1 - beta) x: the roles of z and x swapped",
            says='y with the roles of z and x swapped',
            look='y puts (1 - beta) on z and beta on x',
            section='sec-sf-sequences'),
    Variant("sgd-average-old-z", (Edit("sf_sgd_step", None,
                                       "def sf_sgd_step(param, grad, state, lr=1.0, momentum=0.9, weight_decay=0.0,"
                                       " warmup_steps=0, r=0.0, weight_lr_power=2.0):\n"
                                       "    if not state:\n"
                                       "        state.update(z=param.clone(), x=param.clone(), step=0, lr_max=-1.0,"
                                       " weight_sum=0.0)\n"
                                       "    lr_t, c, state['lr_max'], state['weight_sum'] = sf_weight(state['step'], lr,"
                                       " warmup_steps, r, weight_lr_power, state['lr_max'], state['weight_sum'])\n"
                                       "    state['step'] += 1\n"
                                       "    state['x'] = (1 - c) * state['x'] + c * state['z']  # averages z_t, not z_{t+1}\n"
                                       "    state['z'] = state['z'] - lr_t * (grad + weight_decay * param)\n"
                                       "    return (1 - momentum) * state['z'] + momentum * state['x']\n"),),
            why="updates the average x with the old z before the SGD step",
            says='an average updated with the old z',
            look='z takes its SGD step first, then the new z is averaged into x',
            section='sec-sf-sequences'),
    Variant("sgd-returns-x", (Edit("sf_sgd_step", "return (1 - momentum) * state[\"z\"] + momentum * state[\"x\"]",
                                   "return state[\"x\"].clone()"),),
            why="returns the evaluation weights x instead of the training weights y",
            says='a step that returns x instead of y',
            look='the training parameters are y; x is for evaluation',
            section='sec-sf-train-eval'),
    Variant("adamw-no-bias-correction", (Edit("sf_adamw_step", "(state[\"v\"] / (1 - beta2 ** t)).sqrt()",
                                              "state[\"v\"].sqrt()"),),
            why="forgets the bias correction of the second moment",
            says='schedule-free AdamW without bias correction of v',
            look='the second moment is bias-corrected as in Adam',
            section='sec-sf-adamw'),
    Variant("adamw-first-moment", (Edit("sf_adamw_step", None,
                                        "def sf_adamw_step(param, grad, state, lr=0.0025, betas=(0.9, 0.999), eps=1e-8,"
                                        " weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0):\n"
                                        "    b1, b2 = betas\n"
                                        "    if not state:\n"
                                        "        state.update(z=param.clone(), x=param.clone(), m=torch.zeros_like(param),"
                                        " v=torch.zeros_like(param), step=0, lr_max=-1.0, weight_sum=0.0)\n"
                                        "    lr_t, c, state['lr_max'], state['weight_sum'] = sf_weight(state['step'], lr,"
                                        " warmup_steps, r, weight_lr_power, state['lr_max'], state['weight_sum'])\n"
                                        "    state['step'] += 1\n"
                                        "    t = state['step']\n"
                                        "    state['m'] = b1 * state['m'] + (1 - b1) * grad\n"
                                        "    state['v'] = b2 * state['v'] + (1 - b2) * grad * grad\n"
                                        "    d = state['m'] / (1 - b1 ** t) / ((state['v'] / (1 - b2 ** t)).sqrt() + eps)"
                                        " + weight_decay * param\n"
                                        "    state['z'] = state['z'] - lr_t * d\n"
                                        "    state['x'] = (1 - c) * state['x'] + c * state['z']\n"
                                        "    return (1 - b1) * state['z'] + b1 * state['x']\n"),),
            why="keeps Adam's first-moment EMA on top of the interpolation (momentum counted twice)",
            says="schedule-free AdamW with Adam's first moment",
            look='the interpolation is the momentum; there is no separate average of the gradient',
            section='sec-sf-adamw'),
    Variant("adamw-decay-without-lr", (Edit("sf_adamw_step", None,
                                            "def sf_adamw_step(param, grad, state, lr=0.0025, betas=(0.9, 0.999), eps=1e-8,"
                                            " weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0):\n"
                                            "    b1, b2 = betas\n"
                                            "    if not state:\n"
                                            "        state.update(z=param.clone(), x=param.clone(), v=torch.zeros_like(param),"
                                            " step=0, lr_max=-1.0, weight_sum=0.0)\n"
                                            "    lr_t, c, state['lr_max'], state['weight_sum'] = sf_weight(state['step'], lr,"
                                            " warmup_steps, r, weight_lr_power, state['lr_max'], state['weight_sum'])\n"
                                            "    state['step'] += 1\n"
                                            "    t = state['step']\n"
                                            "    state['v'] = b2 * state['v'] + (1 - b2) * grad * grad\n"
                                            "    adam = grad / ((state['v'] / (1 - b2 ** t)).sqrt() + eps)\n"
                                            "    state['z'] = state['z'] - lr_t * adam - weight_decay * param\n"
                                            "    state['x'] = (1 - c) * state['x'] + c * state['z']\n"
                                            "    return (1 - b1) * state['z'] + b1 * state['x']\n"),),
            why="decay not scaled by the learning rate",
            says='a decay not scaled by the learning rate',
            look='the decay term is multiplied by the learning rate',
            section='sec-sf-adamw'),
    Variant("eval-returns-z", (Edit("sf_train_eval", "return state[\"x\"].clone()", "return state[\"z\"].clone()"),),
            why="evaluates at the fast iterate z instead of the average x",
            says='eval at z instead of x',
            look='eval mode uses the average x',
            section='sec-sf-train-eval'),
    Variant("train-swapped", (Edit("sf_train_eval", "return (1 - beta) * state[\"z\"] + beta * state[\"x\"]",
                                   "return beta * state[\"z\"] + (1 - beta) * state[\"x\"]"),),
            why="y = beta z + (1 - beta) x in the train switch",
            says='a train switch with z and x swapped',
            look="train mode's y puts (1 - beta) on z and beta on x",
            section='sec-sf-train-eval'),
    Variant("eval-overwrites-state", (Edit("sf_train_eval", "return state[\"x\"].clone()",
                                           "state[\"z\"] = state[\"x\"]\n    return state[\"x\"]"),),
            why="eval() written as 'the parameters become x' on the state itself: z is lost",
            says='an eval that overwrites the state',
            look='switching modes returns new parameters and keeps z and x in the state',
            section='sec-sf-train-eval'),
    Variant("alt-in-place-lerp", (
        Edit("sf_weight", None,
             "def sf_weight(step, lr, warmup_steps, r, weight_lr_power, lr_max, weight_sum):\n"
             "    lr_t = lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr\n"
             "    lr_max = lr_t if lr_t > lr_max else lr_max\n"
             "    w = math.pow(step + 1, r) * math.pow(lr_max, weight_lr_power)\n"
             "    total = weight_sum + w\n"
             "    return lr_t, (w / total if total else 0.0), lr_max, total\n"),
        Edit("sf_sgd_step", None,
             "def sf_sgd_step(param, grad, state, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,\n"
             "                weight_lr_power=2.0):\n"
             "    if 'z' not in state:\n"
             "        state['z'], state['x'] = param.clone(), param.clone()\n"
             "        state['k'], state['m'], state['S'] = 0, -1.0, 0.0\n"
             "    lr_t, c, state['m'], state['S'] = sf_weight(state['k'], lr, warmup_steps, r, weight_lr_power,\n"
             "                                               state['m'], state['S'])\n"
             "    state['k'] += 1\n"
             "    state['z'].sub_(grad.add(param, alpha=weight_decay), alpha=lr_t)\n"
             "    state['x'].lerp_(state['z'], c)\n"
             "    param.copy_(torch.lerp(state['z'], state['x'], momentum))\n"
             "    return param\n"),
        Edit("sf_adamw_step", None,
             "def sf_adamw_step(param, grad, state, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,\n"
             "                  warmup_steps=0, r=0.0, weight_lr_power=2.0):\n"
             "    b1, b2 = betas\n"
             "    if 'z' not in state:\n"
             "        state.update(z=param.clone(), x=param.clone(), v=torch.zeros_like(param), k=0, m=-1.0, S=0.0)\n"
             "    lr_t, c, state['m'], state['S'] = sf_weight(state['k'], lr, warmup_steps, r, weight_lr_power,\n"
             "                                               state['m'], state['S'])\n"
             "    state['k'] += 1\n"
             "    state['v'].mul_(b2).addcmul_(grad, grad, value=1 - b2)\n"
             "    denom = state['v'].sqrt() / math.sqrt(1 - b2 ** state['k']) + eps\n"
             "    state['z'].addcdiv_(grad, denom, value=-lr_t)\n"
             "    state['z'].add_(param, alpha=-lr_t * weight_decay)\n"
             "    state['x'].lerp_(state['z'], c)\n"
             "    return torch.lerp(state['z'], state['x'], b1)\n"),
        Edit("sf_train_eval", None,
             "def sf_eval_params(state):\n"
             "    return state['x'] + 0\n"
             "\n"
             "\n"
             "def sf_train_params(state, beta):\n"
             "    return torch.lerp(state['z'], state['x'], beta)\n"),
    ), full_marks=True,
        why="math.pow and min() in the weights; in-place sub_/lerp_/addcdiv_ on the state; lerp for y; other keys"),
]
