"""Simulated students for 09-schedules (schedules.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "09-schedules"

VARIANTS = [
    Variant("step-decay-one-early", (Edit("step_decay", "gamma ** (step // step_size)",
                                          "gamma ** ((step + 1) // step_size)"),),
            why="counts steps from 1: every decay happens one step early",
            says='a step decay one step early',
            look='steps count from 0: the first decay happens at step step_size',
            section='sec-step-decay'),
    Variant("cosine-off-by-one", (Edit("cosine_annealing", "math.cos(math.pi * t / total_steps)",
                                       "math.cos(math.pi * (t + 1) / total_steps)"),),
            why="cosine one step ahead: step 0 already below lr",
            says='a cosine one step ahead',
            look='at step 0 the schedule is exactly lr',
            section='sec-cosine'),
    Variant("cosine-periodic-past-end", (Edit("cosine_annealing", "t = min(step, total_steps)", "t = step"),),
            why="does not hold min_lr after total_steps: the cosine climbs back up as CosineAnnealingLR does",
            says='a cosine that climbs back after total_steps',
            look="the course's cosine holds min_lr after total_steps",
            section='sec-cosine'),
    Variant("sgdr-no-cycle-mult", (Edit("cosine_warm_restarts", "t_i *= cycle_mult", "t_i *= 1"),),
            why="every cycle has the length of the first: cycle_mult ignored",
            says='warm restarts that ignore cycle_mult',
            look='each cycle is cycle_mult times as long as the one before',
            section='sec-sgdr'),
    Variant("sgdr-restart-late", (Edit("cosine_warm_restarts", "while t_cur >= t_i:", "while t_cur > t_i:"),),
            why="restarts one step late: the step that should be back at lr sits at min_lr",
            says='a restart one step late',
            look='the step that ends a cycle is already the first of the next, back at lr',
            section='sec-sgdr'),
    Variant("warmup-wrong-count", (Edit("linear_warmup", "t / warmup_steps", "t / (warmup_steps + 1)"),),
            why="warm-up divides by W + 1 (the number of warm-up steps counted inclusively): lr is never reached",
            says='a warm-up that divides by W + 1',
            look='the warm-up reaches lr at step warmup_steps',
            section='sec-warmup'),
    Variant("warmup-from-zero", (Edit("linear_warmup", "lr * (start_factor + (1 - start_factor) * t / warmup_steps)",
                                      "lr * t / warmup_steps"),),
            why="ignores start_factor: always warms up from 0",
            says='a warm-up that ignores start_factor',
            look='the warm-up starts at start_factor times lr',
            section='sec-warmup'),
    Variant("join-global-step", (Edit("join", "return schedule(step - start)", "return schedule(step)"),),
            why="passes the global step to every piece instead of restarting its count at the boundary",
            says='a join that passes the global step to every piece',
            look='each piece counts its own steps from 0 at its boundary',
            section='sec-warmup'),
    Variant("join-boundary-inclusive", (Edit("join", "if step < boundary:", "if step <= boundary:"),),
            why="the boundary step still belongs to the old piece",
            says='a join whose boundary step belongs to the old piece',
            look='at the boundary step the next piece starts',
            section='sec-warmup'),
    Variant("one-cycle-peak-at-pN", (Edit("one_cycle", "peak = pct_start * total_steps - 1",
                                          "peak = pct_start * total_steps"),),
            why="first phase ends at p N instead of OneCycleLR's p N - 1",
            says='a one-cycle peak one step late',
            look="OneCycleLR's first phase ends at pct_start * total_steps - 1",
            section='sec-one-cycle'),
    Variant("one-cycle-momentum-with-lr", (Edit("one_cycle", "anneal(max_momentum, base_momentum, u)",
                                                "anneal(base_momentum, max_momentum, u)"),),
            why="momentum rises with the learning rate in the first phase instead of falling",
            says='a one-cycle momentum that rises with the learning rate',
            look='momentum moves opposite to the learning rate: it falls while the learning rate rises',
            section='sec-one-cycle'),
    Variant("one-cycle-no-hold", (Edit("one_cycle", "t = min(step, total_steps - 1)", "t = step"),),
            why="extrapolates past the last step instead of holding the final values",
            says='a one-cycle schedule that extrapolates past its end',
            look='after the last step the schedule holds its final values',
            section='sec-one-cycle'),
    Variant("plateau-patience-ge", (Edit("reduce_on_plateau", "if state[\"bad\"] > patience:",
                                         "if state[\"bad\"] >= patience:"),),
            why="cuts after patience bad epochs instead of more than patience",
            says='a plateau cut after exactly patience bad epochs',
            look='the learning rate is cut only when the bad epochs are more than patience',
            section='sec-plateau'),
    Variant("plateau-rel-without-abs", (Edit("reduce_on_plateau", "threshold * abs(best)", "threshold * best"),),
            why="relative threshold times m* instead of |m*|: backwards for negative metrics (torch's behaviour)",
            says='a relative threshold without |best|',
            look='the relative threshold is taken of |best|, so that it also works for negative metrics',
            section='sec-plateau'),
    Variant("plateau-cooldown-counts", (Edit("reduce_on_plateau", "        state[\"cooldown\"] -= 1\n        state[\"bad\"] = 0\n",
                                             "        state[\"cooldown\"] -= 1\n"),),
            why="bad epochs still counted during the cooldown",
            says='bad epochs counted during the cooldown',
            look='during the cooldown the bad-epoch count stays at zero',
            section='sec-plateau'),
    Variant("plateau-no-min-lr", (Edit("reduce_on_plateau", "max(state[\"lr\"] * factor, min_lr)",
                                       "state[\"lr\"] * factor"),),
            why="ignores the min_lr floor",
            says='a plateau cut that ignores min_lr',
            look='the learning rate never goes below min_lr',
            section='sec-plateau'),
    Variant("wsd-warmup-plus-one", (Edit("wsd", "return lr * t / warmup_steps", "return lr * (t + 1) / warmup_steps"),),
            why="warm-up from lr / W instead of from 0",
            says='a WSD warm-up that starts above zero',
            look='the warm-up is 0 at step 0',
            section='sec-wsd'),
    Variant("wsd-decay-counted-from-one", (Edit("wsd", "p = (t - decay_start) / decay_steps",
                                                "p = (t - decay_start + 1) / decay_steps"),),
            why="counts the decay steps from 1: the decay starts below lr and overshoots min_lr at total_steps",
            says='a WSD decay counted from 1',
            look="the decay's progress is 0 at the first decay step and 1 at total_steps",
            section='sec-wsd'),
    Variant("wsd-sqrt-shape", (Edit("wsd", "g = 1 - math.sqrt(p)", "g = math.sqrt(1 - p)"),),
            why="sqrt(1 - p) instead of the 1 - sqrt(p) cooldown",
            says='a sqrt(1 - p) cooldown',
            look="the course's square-root cooldown is 1 - sqrt(p)",
            section='sec-wsd'),
    Variant("alt-rewritten", (
        Edit("step_decay", None,
             "def step_decay(step, lr, step_size, gamma=0.1):\n"
             "    value = lr\n"
             "    for boundary in range(step_size, step + 1, step_size):\n"
             "        value *= gamma\n"
             "    return value\n"),
        Edit("cosine_annealing", None,
             "def cosine_annealing(step, lr, total_steps, min_lr=0.0):\n"
             "    if step >= total_steps:\n"
             "        return min_lr\n"
             "    # 1 + cos(x) = 2 cos^2(x / 2)\n"
             "    return min_lr + (lr - min_lr) * math.cos(math.pi * step / (2 * total_steps)) ** 2\n"),
        Edit("cosine_warm_restarts", None,
             "def cosine_warm_restarts(step, lr, first_cycle_steps, cycle_mult=1, min_lr=0.0):\n"
             "    if cycle_mult == 1:\n"
             "        t_cur, t_i = step % first_cycle_steps, first_cycle_steps\n"
             "    else:\n"
             "        # completed cycles n: T0 (mult^n - 1) / (mult - 1) <= step\n"
             "        n = 0\n"
             "        while first_cycle_steps * (cycle_mult ** (n + 1) - 1) // (cycle_mult - 1) <= step:\n"
             "            n += 1\n"
             "        t_cur = step - first_cycle_steps * (cycle_mult ** n - 1) // (cycle_mult - 1)\n"
             "        t_i = first_cycle_steps * cycle_mult ** n\n"
             "    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t_cur / t_i))\n"),
        Edit("linear_warmup", None,
             "def linear_warmup(step, lr, warmup_steps, start_factor=1.0 / 3):\n"
             "    if step >= warmup_steps:\n"
             "        return lr\n"
             "    start = start_factor * lr\n"
             "    return start + (lr - start) * step / warmup_steps\n"),
        Edit("join", None,
             "def join(step, schedules, boundaries):\n"
             "    starts = [0] + list(boundaries)\n"
             "    i = max(k for k, start in enumerate(starts) if start <= step)\n"
             "    return schedules[i](step - starts[i])\n"),
        Edit("one_cycle", None,
             "def one_cycle(step, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,\n"
             "              base_momentum=0.85, max_momentum=0.95):\n"
             "    t = min(step, total_steps - 1)\n"
             "    e1 = pct_start * total_steps - 1\n"
             "    lo = max_lr / div_factor\n"
             "    if t <= e1:\n"
             "        w = (1 - math.cos(math.pi * t / e1)) / 2  # 0 -> 1 over the first phase\n"
             "        return lo + (max_lr - lo) * w, max_momentum - (max_momentum - base_momentum) * w\n"
             "    w = (1 - math.cos(math.pi * (t - e1) / (total_steps - 1 - e1))) / 2\n"
             "    end = lo / final_div_factor\n"
             "    return max_lr - (max_lr - end) * w, base_momentum + (max_momentum - base_momentum) * w\n"),
        Edit("reduce_on_plateau", None,
             "def reduce_on_plateau(state, metric, lr, mode='min', factor=0.1, patience=10, threshold=1e-4,\n"
             "                      threshold_mode='rel', cooldown=0, min_lr=0.0, eps=1e-8):\n"
             "    s = state.setdefault('s', {'lr': lr, 'best': None, 'bad': 0, 'cool': 0})\n"
             "    sign = 1 if mode == 'min' else -1\n"
             "    if s['best'] is None:\n"
             "        better = True\n"
             "    else:\n"
             "        margin = threshold if threshold_mode == 'abs' else threshold * abs(s['best'])\n"
             "        better = sign * (s['best'] - metric) > margin\n"
             "    s['bad'] = 0 if better else s['bad'] + 1\n"
             "    if better:\n"
             "        s['best'] = metric\n"
             "    if s['cool']:\n"
             "        s['cool'] -= 1\n"
             "        s['bad'] = 0\n"
             "    if s['bad'] > patience:\n"
             "        target = max(min_lr, s['lr'] * factor)\n"
             "        s['lr'] = target if s['lr'] - target > eps else s['lr']\n"
             "        s['bad'], s['cool'] = 0, cooldown\n"
             "    return s['lr']\n"),
        Edit("wsd", None,
             "def wsd(step, lr, total_steps, warmup_steps, decay_steps, min_lr=0.0, decay='linear'):\n"
             "    shapes = {'linear': lambda p: 1 - p, 'cosine': lambda p: 0.5 + 0.5 * math.cos(math.pi * p),\n"
             "              'sqrt': lambda p: 1 - p ** 0.5}\n"
             "    if step >= total_steps:\n"
             "        return min_lr\n"
             "    if warmup_steps and step < warmup_steps:\n"
             "        return lr * step / warmup_steps\n"
             "    p = max(0.0, (step - total_steps + decay_steps) / decay_steps)\n"
             "    return min_lr + (lr - min_lr) * shapes[decay](p)\n"),
    ), full_marks=True,
        why="loops instead of closed forms, cos^2 instead of (1 + cos)/2, SGDR by geometric sums, "
            "the last start <= step in join, an increasing weight in one-cycle, another state layout, max(0, p) for WSD"),
]
