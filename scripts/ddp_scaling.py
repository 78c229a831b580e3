"""Batch-size / learning-rate scaling rules checked with DistributedDataParallel (chapter ``ch-bakeoff``).

Baseline: one process, batch ``B`` = 16, ``N`` = 200 steps at lr ``eta0`` (SGD + momentum 0.9 at 0.05, near the
largest stable lr, and at 0.01; AdamW at 1e-3). Scaled: ``torchrun --nproc_per_node=2``
(gloo), global batch 2B (B per process), N/2 steps -- the same number of samples -- at lr ``k * eta0`` for
k in {1, sqrt 2, 2}. The linear rule (Goyal et al. 2017) predicts k = 2 keeps SGD's loss-versus-samples curve;
the square-root rule (Malladi et al. 2022) predicts k = sqrt 2 for Adam-type methods. The rule "holds here" when
its k gives the final validation loss closest to the baseline's. Constant learning rates (no schedule) so that
only the batch size and the lr change. Two seeds. Results: ``results/ddp_scaling.json``.

    nice -n 10 python scripts/ddp_scaling.py      # ~15 min on 2 busy cores
    nice -n 10 python scripts/ddp_scaling.py --optimal   # adds the optimal-lr check (~10 min)

The second, cleaner check tunes the lr on a sqrt(2)-spaced grid at both batch sizes (same samples) and compares the
best lrs: the linear rule predicts a ratio of 2, the square-root rule sqrt(2).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from reference_impl.distributed import run_training
from reference_impl.lm import Corpus

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "ddp_scaling.json"
SETTINGS = [("sgd", 0.05), ("sgd", 0.01), ("adamw-constant", 1e-3)]
FACTORS = {"none (1)": 1.0, "square root (sqrt 2)": math.sqrt(2.0), "linear (2)": 2.0}
PREDICTED = {"sgd": "linear (2)", "adamw-constant": "square root (sqrt 2)"}
BATCH, STEPS, EVAL_EVERY, SEEDS = 16, 200, 20, [0, 1]


def _label(name: str, lr: float) -> str:
    return f"{name}, lr0 {lr:g}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(seed: int, jobs: list[tuple[str, float]], steps: int, batch: int, eval_every: int) -> list[dict]:
    """Run ``jobs`` (name, lr) one after another in one ``torchrun --nproc_per_node=2`` launch."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs.json"
        cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={_free_port()}", "-m", "reference_impl.distributed"]
        for name, lr in jobs:
            cmd += ["--train", f"{name}:{lr!r}"]
        cmd += ["--steps", str(steps), "--batch-size", str(batch), "--eval-every", str(eval_every),
                "--seed", str(seed), "--out", str(out)]
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1")
        if Path("/sys/class/net/lo").exists():
            env["GLOO_SOCKET_IFNAME"] = "lo"
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.read_text())


OPTIMAL_GRIDS = {"sgd": [0.0125 * 2 ** (k / 2) for k in range(7)], "adamw-constant": [1e-3 * 2 ** (k / 2) for k in range(7)]}


def optimal(args, corpus: Corpus) -> dict:
    """The cleaner check: the best lr on a sqrt(2)-spaced grid at batch B (one process) and 2B (two processes)."""
    records = []
    for seed in args.seeds:
        for name, grid in OPTIMAL_GRIDS.items():
            for lr in grid:
                _, rec = run_training(name, lr, args.steps, BATCH, seed=seed, eval_every=args.steps, corpus=corpus)
                records.append(dict(rec, role="baseline"))
        jobs = [(name, lr) for name, grid in OPTIMAL_GRIDS.items() for lr in grid]
        for rec in launch(seed, jobs, args.steps // 2, 2 * BATCH, args.steps // 2):
            records.append(dict(rec, role="ddp"))
        print(f"optimal-lr grids done for seed {seed}", flush=True)
    summary = {}
    for name, grid in OPTIMAL_GRIDS.items():
        entry = dict(grid=grid, predicted=PREDICTED[name])
        for role, batch in (("baseline", BATCH), ("ddp", 2 * BATCH)):
            means = []
            for lr in grid:
                finals = [r["final_val_loss"] for r in records
                          if r["name"] == name and r["role"] == role and math.isclose(r["lr"], lr)]
                ok = all(math.isfinite(v) for v in finals)
                means.append(statistics.fmean(finals) if ok else None)
            best = min((m, lr) for m, lr in zip(means, grid, strict=True) if m is not None)[1]
            entry[f"batch_{batch}"] = dict(mean_final=means, best_lr=best)
        entry["ratio"] = entry[f"batch_{2 * BATCH}"]["best_lr"] / entry[f"batch_{BATCH}"]["best_lr"]
        summary[name] = entry
    for rec in records:
        rec["val_loss"] = [v if math.isfinite(v) else None for v in rec["val_loss"]]
        rec["final_val_loss"] = rec["final_val_loss"] if math.isfinite(rec["final_val_loss"]) else None
    return dict(runs=records, summary=summary)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=STEPS, help="baseline steps (the DDP runs take half)")
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--optimal", action="store_true",
                        help="only the optimal-lr check (lr grids at both batch sizes), added to --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    corpus = Corpus.load()
    if args.optimal:
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        results["optimal_lr"] = optimal(args, corpus)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        return 0
    records = []
    for seed in args.seeds:
        for name, lr in SETTINGS:
            _, rec = run_training(name, lr, args.steps, BATCH, seed=seed, eval_every=EVAL_EVERY, corpus=corpus)
            records.append(dict(rec, role="baseline", factor=1.0, setting=_label(name, lr)))
            print(f"baseline {name} lr {lr:g} seed {seed}: {rec['final_val_loss']:.4f}", flush=True)
        jobs = [(name, lr * k, lr, k) for name, lr in SETTINGS for k in FACTORS.values()]
        runs = launch(seed, [j[:2] for j in jobs], args.steps // 2, 2 * BATCH, EVAL_EVERY // 2)
        for rec, (name, lr, base_lr, k) in zip(runs, jobs, strict=True):
            assert rec["name"] == name and rec["world_size"] == 2
            records.append(dict(rec, role="ddp", factor=k, setting=_label(name, base_lr)))
            print(f"ddp {name} lr {lr:.3g} seed {seed}: {rec['final_val_loss']:.4f}", flush=True)
    for rec in records:
        rec["samples"] = [s * rec["global_batch"] for s in rec["eval_steps"]]
        rec["val_loss"] = [v if math.isfinite(v) else None for v in rec["val_loss"]]
        rec["final_val_loss"] = rec["final_val_loss"] if math.isfinite(rec["final_val_loss"]) else None
    summary = {}
    for name, lr in SETTINGS:
        label = _label(name, lr)
        base = [r["final_val_loss"] for r in records if r["setting"] == label and r["role"] == "baseline"]
        entry = dict(name=name, base_lr=lr, baseline_mean=statistics.fmean(base), rules={}, predicted=PREDICTED[name])
        for rule, k in FACTORS.items():
            finals = [r["final_val_loss"] for r in records
                      if r["setting"] == label and r["role"] == "ddp" and math.isclose(r["factor"], k)]
            ok = [v for v in finals if v is not None]
            mean = statistics.fmean(ok) if len(ok) == len(finals) else None
            entry["rules"][rule] = dict(factor=k, finals=finals, mean=mean,
                                        gap=None if mean is None else mean - entry["baseline_mean"])
        finite = {r: v for r, v in entry["rules"].items() if v["gap"] is not None}
        entry["closest"] = min(finite, key=lambda r: abs(finite[r]["gap"]))
        entry["lowest"] = min(finite, key=lambda r: finite[r]["mean"])
        summary[label] = entry
    results = dict(
        meta=dict(python=platform.python_version(), torch=torch.__version__, corpus_sha256=corpus.sha256,
                  batch_per_process=BATCH, baseline_steps=args.steps, ddp_steps=args.steps // 2, world_size=2,
                  backend="gloo", seeds=args.seeds, settings=SETTINGS, factors=FACTORS,
                  finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")),
        runs=records, summary=summary,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
