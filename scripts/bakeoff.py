"""The optimizer bake-off on a tiny character-level transformer (chapter ``ch-bakeoff``).

Protocol (fixed seeds; everything lands in one JSON file, rewritten after every run so a stopped sweep resumes):

1. **Learning-rate sweep** on seed 0: each recipe of ``reference_impl.lm.RECIPES`` at the peak lrs of its grid
   (half-decade steps). If the best lr sits at an edge of the grid, the grid is extended by one point beyond that
   edge (once) -- unless ``--no-extend`` is given, as it was for the stored results (the shared 2-core machine could
   not fit the extra runs before the deadline). Muon's AdamW part uses the best AdamW-cosine lr, so AdamW-cosine is
   swept first.
2. **Final comparison** at each recipe's best lr on fresh seeds 1, 2, 3 (the sweep seed is not reused, so the
   lr choice does not flatter the comparison).
3. **Summary**: target loss = mean final validation loss of the AdamW-cosine baseline; steps to reach it;
   final loss mean ± std; Welch's t-test of each recipe against the baseline with Holm's correction;
   optimizer-state bytes per parameter.
4. ``--benchmark``: wall-clock per step, measured separately (not niced, one thread, recipes interleaved in
   rounds so that load changes hit all of them alike, median over rounds); merged into the same JSON.

Usage::

    nice -n 10 python scripts/bakeoff.py                 # full sweep -> results/bakeoff.json (~1 h on 2 busy cores)
    # or split the recipes over several processes and merge (how the stored results were made):
    # (after the adamw-cosine runs exist in results/bakeoff.json, copied into each file):
    nice -n 10 python scripts/bakeoff.py --no-extend --recipes adamw-cosine adamw-wsd lion &
    nice -n 10 python scripts/bakeoff.py --no-extend --recipes adamw-cosine muon --out results/bakeoff_b.json &
    nice -n 10 python scripts/bakeoff.py --no-extend --recipes adamw-cosine soap --out results/bakeoff_c.json &
    nice -n 10 python scripts/bakeoff.py --no-extend --recipes adamw-cosine sf-adamw --out results/bakeoff_d.json
    python scripts/bakeoff.py --merge results/bakeoff_[bcd].json   # then delete those three
    python scripts/bakeoff.py --benchmark                 # add ms/step to results/bakeoff.json
    python scripts/bakeoff.py --quick --out /tmp/q.json --recipes adamw-cosine muon   # a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from reference_impl.lm import (
    CORPUS_MODULES,
    RECIPES,
    Corpus,
    LMConfig,
    TinyTransformer,
    get_batch,
    recipe,
    train_lm,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "bakeoff.json"
BASELINE = "adamw-cosine"

LR_GRIDS: dict[str, list[float]] = {
    "adamw-cosine": [1e-3, 3e-3, 1e-2],
    "adamw-wsd": [1e-3, 3e-3, 1e-2],
    "lion": [1e-4, 3e-4, 1e-3],
    "soap": [1e-3, 3e-3, 1e-2],
    "muon": [1e-2, 3e-2, 1e-1],
    "sf-adamw": [1e-3, 3e-3, 1e-2],
}

FULL = dict(steps=500, warmup=25, batch_size=32, eval_every=25, sweep_seed=0, final_seeds=[1, 2, 3], extend=True)
QUICK = dict(steps=10, warmup=2, batch_size=8, eval_every=5, sweep_seed=0, final_seeds=[1], extend=False)
CONFIG = LMConfig(vocab_size=97, context=64, d_model=64, n_layers=2, n_heads=4)
ALPHA = 0.05


def _round_lr(lr: float) -> float:
    return float(f"{lr:.3g}")


def _extend(grid: list[float], best: float) -> float | None:
    """The next point beyond the edge where ``best`` sits (grids are half-decade spaced), or None."""
    if best == min(grid):
        return _round_lr(min(grid) / math.sqrt(10))
    if best == max(grid):
        return _round_lr(max(grid) * math.sqrt(10))
    return None


def _final(run: dict) -> float:
    return run["val_loss"][-1]


def run_one(corpus: Corpus, name: str, lr: float, seed: int, settings: dict, aux_lr: float) -> dict:
    torch.manual_seed(seed)
    make, schedule = recipe(name, lr, settings["steps"], settings["warmup"], aux_lr=aux_lr)
    model = TinyTransformer(CONFIG, seed=seed)
    hist = train_lm(
        model, make, corpus, settings["steps"], batch_size=settings["batch_size"], schedule=schedule,
        eval_every=settings["eval_every"], seed=seed,
    )
    return dict(
        recipe=name, lr=lr, aux_lr=aux_lr if name == "muon" else None, seed=seed,
        eval_steps=hist.eval_steps, val_loss=[round(v, 5) if math.isfinite(v) else None for v in hist.val_loss],
        final_val_loss=round(hist.val_loss[-1], 5) if math.isfinite(hist.val_loss[-1]) else None,
        diverged=hist.diverged, train_seconds=round(hist.seconds, 2), state_bytes=hist.state_bytes,
        n_params=hist.n_params,
    )


def _key(run: dict) -> tuple:
    return (run["recipe"], run["lr"], run["seed"])


def _score(run: dict) -> float:
    return run["final_val_loss"] if run["final_val_loss"] is not None else math.inf


def summarize(results: dict) -> None:
    """Fill ``results['target_loss']`` and ``results['summary']`` from the final runs."""
    from scipy import stats

    finals: dict[str, list[dict]] = {}
    for run in results["final"]:
        finals.setdefault(run["recipe"], []).append(run)
    if BASELINE not in finals:
        return
    base = [_score(r) for r in finals[BASELINE]]
    target = statistics.fmean(base)
    results["target_loss"] = round(target, 5)
    summary, pvals, paired = {}, {}, {}
    for name, runs in finals.items():
        losses = [_score(r) for r in runs]
        reach = []
        for r in runs:
            hit = [s for s, v in zip(r["eval_steps"], r["val_loss"], strict=True) if v is not None and v <= target]
            reach.append(hit[0] if hit else None)
        entry = dict(
            lr=runs[0]["lr"], seeds=[r["seed"] for r in runs], final_losses=losses,
            mean=statistics.fmean(losses), std=statistics.stdev(losses) if len(losses) > 1 else 0.0,
            steps_to_target=reach, state_bytes=runs[0]["state_bytes"], n_params=runs[0]["n_params"],
            state_bytes_per_param=runs[0]["state_bytes"] / runs[0]["n_params"],
        )
        if name != BASELINE and len(losses) > 1 and len(base) > 1 and all(map(math.isfinite, losses)):
            t, p = stats.ttest_ind(losses, base, equal_var=False)
            entry["welch_t"], entry["p_value"] = float(t), float(p)
            pvals[name] = float(p)
            # secondary analysis: the seeds fix the initial weights and the data order for every recipe, so the
            # runs pair up by seed; a paired t-test removes the part of the seed effect the recipes share
            by_seed = {r["seed"]: _score(r) for r in finals[BASELINE]}
            if [r["seed"] for r in runs] == list(by_seed):
                t, p = stats.ttest_rel(losses, [by_seed[r["seed"]] for r in runs])
                entry["paired_t"], entry["paired_p"] = float(t), float(p)
                paired[name] = float(p)
        summary[name] = entry
    for key, ps in (("", pvals), ("paired_", paired)):
        for name, p_holm in _holm(ps).items():
            summary[name][f"{key}p_holm"] = p_holm
            summary[name][f"{key}significant"] = p_holm < ALPHA
    results["summary"] = summary
    results["test"] = (
        f"Welch's two-sided t-test of final validation losses against {BASELINE} "
        f"(scipy.stats.ttest_ind, equal_var=False), Holm-corrected over {len(pvals)} comparisons, alpha = {ALPHA}"
    )
    results["secondary_test"] = (
        f"paired two-sided t-test by seed (scipy.stats.ttest_rel), Holm-corrected over {len(paired)} comparisons, "
        f"alpha = {ALPHA}"
    )


def _holm(pvals: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (they control the family-wise error rate)."""
    order = sorted(pvals, key=pvals.get)
    adjusted, running, m = {}, 0.0, len(order)
    for i, name in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvals[name]))
        adjusted[name] = running
    return adjusted


def merge(results: dict, other: dict) -> None:
    """Add ``other``'s runs to ``results`` (two sweep processes that split the recipes between them)."""
    for key in ("settings", "corpus_sha256", "model", "quick"):
        if results["meta"][key] != other["meta"][key]:
            raise ValueError(f"Invalid merge: the files differ in {key}")
    for part in ("sweep", "final"):
        have = {_key(r) for r in results[part]}
        results[part] += [r for r in other[part] if _key(r) not in have]
    for name, lr in other["best_lr"].items():
        if results["best_lr"].setdefault(name, lr) != lr:
            raise ValueError(f"Invalid merge: two best learning rates for {name}")
    results["meta"]["lr_grids"].update(other["meta"]["lr_grids"])
    results.setdefault("edge_probes", [])
    have = {_key(r) for r in results["edge_probes"]}
    results["edge_probes"] += [r for r in other.get("edge_probes", []) if _key(r) not in have]
    results["meta"]["recipes"].update(other["meta"]["recipes"])
    finished = [m["finished"] for m in (results["meta"], other["meta"]) if "finished" in m]
    results["meta"]["finished"] = max(finished) if finished else None
    order = {name: i for i, name in enumerate(RECIPES)}
    for part in ("sweep", "final"):
        results[part].sort(key=lambda r: (order[r["recipe"]], r["seed"] if part == "final" else 0, r["lr"]))


def save(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(out)


def sweep(args, settings: dict, corpus: Corpus, out: Path) -> dict:
    results = json.loads(out.read_text()) if out.exists() and not args.fresh else {}
    results["meta"] = dict(
        python=platform.python_version(), torch=torch.__version__, corpus_modules=list(CORPUS_MODULES),
        corpus_sha256=corpus.sha256, train_chars=len(corpus.train), val_chars=len(corpus.val),
        model=dataclasses.asdict(CONFIG), settings=settings,
        quick=args.quick, recipes={n: RECIPES[n] for n in args.recipes}, lr_grids={}, baseline=BASELINE,
        threads=torch.get_num_threads(),
    )
    if results.get("corpus_sha256_mismatch"):
        del results["corpus_sha256_mismatch"]
    results.setdefault("sweep", [])
    results.setdefault("final", [])
    done = {_key(r): r for r in results["sweep"]}
    done_final = {_key(r): r for r in results["final"]}
    results.setdefault("best_lr", {})
    aux_lr = 3e-3

    def log(msg: str) -> None:
        if not args.silent:
            print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)

    names = [BASELINE] + [n for n in args.recipes if n != BASELINE] if BASELINE in args.recipes else args.recipes
    for name in names:
        grid = [LR_GRIDS[name][1]] if args.quick else list(LR_GRIDS[name])
        if name == "muon" and BASELINE in results["best_lr"]:
            aux_lr = results["best_lr"][BASELINE]
        while True:
            for lr in grid:
                key = (name, lr, settings["sweep_seed"])
                if key not in done:
                    run = run_one(corpus, name, lr, settings["sweep_seed"], settings, aux_lr)
                    done[key] = run
                    results["sweep"].append(run)
                    save(results, out)
                    log(f"sweep {name} lr={lr:g}: {run['final_val_loss']} ({run['train_seconds']} s)")
            runs = [done[(name, lr, settings["sweep_seed"])] for lr in grid]
            best = min(runs, key=_score)["lr"]
            nxt = _extend(grid, best) if settings["extend"] and len(grid) == len(LR_GRIDS[name]) else None
            if nxt is None:
                break
            grid = sorted(grid + [nxt])
        results["meta"]["lr_grids"][name] = grid
        results["best_lr"][name] = best
        save(results, out)
        for seed in settings["final_seeds"]:
            key = (name, best, seed)
            if key not in done_final:
                run = run_one(corpus, name, best, seed, settings, aux_lr)
                done_final[key] = run
                results["final"].append(run)
                save(results, out)
                log(f"final {name} lr={best:g} seed={seed}: {run['final_val_loss']}")
    summarize(results)
    results["meta"]["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    save(results, out)
    return results


def probe(args, settings: dict, corpus: Corpus, out: Path) -> None:
    """Extra sweep points beyond a grid edge, run after the protocol (``results['edge_probes']``)."""
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("edge_probes", [])
    aux_lr = results.get("best_lr", {}).get(BASELINE, 3e-3)
    for text in args.probe:
        name, _, lr = text.partition(":")
        if name not in RECIPES:
            raise ValueError(f"Invalid probe: {text!r}")
        run = run_one(corpus, name, float(lr), settings["sweep_seed"], settings, aux_lr)
        results["edge_probes"].append(run)
        save(results, out)
        if not args.silent:
            print(f"probe {name} lr={float(lr):g}: {run['final_val_loss']}", flush=True)


def benchmark(out: Path, rounds: int = 15, steps: int = 10, warm: int = 3) -> dict:
    """Median milliseconds per training step for each recipe at its best lr (one thread, recipes interleaved).

    Both the process's CPU time (``time.process_time``: it does not count the time the process waits for a core,
    so it is the better measure on a shared machine) and wall-clock time are recorded.
    """
    results = json.loads(out.read_text())
    corpus = Corpus.load()
    settings = results["meta"]["settings"]
    per: dict[str, list[float]] = {n: [] for n in results["best_lr"]}
    cpu: dict[str, list[float]] = {n: [] for n in results["best_lr"]}
    load_before = os.getloadavg()[0]
    for _ in range(rounds):
        for name, lr in results["best_lr"].items():
            aux_lr = results["best_lr"].get(BASELINE, 3e-3)
            make, _ = recipe(name, lr, settings["steps"], settings["warmup"], aux_lr=aux_lr)
            model = TinyTransformer(CONFIG, seed=0)
            opts = make(model)
            opts = [opts] if isinstance(opts, torch.optim.Optimizer) else opts
            for o in opts:
                if hasattr(o, "train"):
                    o.train()
            gen = torch.Generator().manual_seed(0)
            times, cpu_times = [], []
            for i in range(warm + steps):
                x, y = get_batch(corpus.train, settings["batch_size"], CONFIG.context, gen)
                t0, c0 = time.perf_counter(), time.process_time()
                loss = model.loss(x, y)
                for o in opts:
                    o.zero_grad(set_to_none=True)
                loss.backward()
                for o in opts:
                    o.step()
                if i >= warm:
                    times.append(time.perf_counter() - t0)
                    cpu_times.append(time.process_time() - c0)
            per[name].append(1000 * statistics.median(times))
            cpu[name].append(1000 * statistics.median(cpu_times))
    results["timing"] = dict(
        method=(f"{rounds} rounds x {steps} timed steps (after {warm} warm-up steps) per recipe, recipes "
                "interleaved round by round, torch.set_num_threads(1), not niced; ms = median over rounds of the "
                "per-round median step time (forward + backward + optimizer step), in process CPU time "
                "(time.process_time, which excludes waiting for a core); wall-clock medians stored beside"),
        load_average_before=round(load_before, 2), load_average_after=round(os.getloadavg()[0], 2),
        ms_per_step={n: round(statistics.median(v), 2) for n, v in cpu.items()},
        ms_per_step_cpu_rounds={n: [round(t, 2) for t in v] for n, v in cpu.items()},
        ms_per_step_wall={n: round(statistics.median(v), 2) for n, v in per.items()},
        ms_per_step_wall_rounds={n: [round(t, 2) for t in v] for n, v in per.items()},
        cpu=platform.processor() or platform.machine(),
    )
    save(results, out)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few steps, one lr per recipe, one final seed")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--fresh", action="store_true", help="ignore runs already stored in --out")
    parser.add_argument("--benchmark", action="store_true", help="only measure ms/step, merged into --out")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--no-extend", action="store_true", help="never extend a grid whose best lr is at an edge")
    parser.add_argument("--probe", nargs="+", default=[], metavar="NAME:LR",
                        help="after the fact: train these on the sweep seed and store them as edge_probes in --out "
                             "(they do not change the protocol's choice)")
    parser.add_argument("--summarize", action="store_true", help="only recompute the summary of --out")
    parser.add_argument("--merge", type=Path, nargs="+", default=[],
                        help="merge the runs of these result files (same settings, other recipes) into --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.summarize or args.merge:
        results = json.loads(args.out.read_text())
        for other in args.merge:
            merge(results, json.loads(other.read_text()))
        summarize(results)
        save(results, args.out)
        return 0
    if args.benchmark:
        benchmark(args.out)
        return 0
    if args.probe:
        probe(args, dict(QUICK if args.quick else FULL), Corpus.load(), args.out)
        return 0
    settings = dict(QUICK if args.quick else FULL)
    if args.no_extend:
        settings["extend"] = False
    sweep(args, settings, Corpus.load(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
