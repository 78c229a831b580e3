"""Data-parallel training of the bake-off's language model with ``torch.distributed`` (DistributedDataParallel).

Launch it with ``torchrun`` (one process per CPU core or GPU)::

    torchrun --nproc_per_node=2 -m reference_impl.distributed --train adamw-cosine:3e-3 --steps 100 \\
        --batch-size 32 --out /tmp/ddp.json

Every process builds the same model from the same seed, draws the same global batch of ``--batch-size`` windows
and trains on its own shard of ``batch-size / world-size`` windows; DDP averages the gradients over the processes
during ``backward()``, so every process takes the same optimizer step as one process on the whole batch would
(up to rounding: an all-reduce sums in another order). Process 0 writes the results.

Backends: ``gloo`` on CPU (the default here), ``nccl`` on GPUs (``--device cuda``: process ``LOCAL_RANK`` uses GPU
``LOCAL_RANK``). Without ``torchrun`` (no ``RANK``/``WORLD_SIZE`` in the environment) the script runs as one
ordinary process, which is the single-process reference.

``--train NAME:LR`` may be repeated; NAME is a bake-off recipe (``reference_impl.lm.RECIPES``) or ``sgd``
(heavy-ball SGD, momentum 0.9, no schedule) or ``adamw-constant`` (AdamW, constant lr), the two used to check
the batch-size / learning-rate scaling rules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .lm import ADAM_BETAS, RECIPES, Corpus, LMConfig, TinyTransformer, recipe, train_lm

__all__ = ["EXTRA_RECIPES", "make_recipe", "parse_run", "run_training", "main"]

EXTRA_RECIPES = {
    "sgd": "SGD with heavy-ball momentum 0.9, constant lr",
    "adamw-constant": "AdamW, constant lr",
}


def make_recipe(name: str, lr: float, steps: int, warmup_steps: int):
    """``(make_optimizer, schedule)`` for a bake-off recipe or one of :data:`EXTRA_RECIPES`."""
    from . import optim

    if name == "sgd":
        return (lambda m: optim.SGD(m.parameters(), lr=lr, momentum=0.9)), None
    if name == "adamw-constant":
        return (lambda m: optim.AdamW(m.parameters(), lr=lr, betas=ADAM_BETAS, weight_decay=0.0)), None
    return recipe(name, lr, steps, warmup_steps)


def parse_run(text: str) -> tuple[str, float]:
    """``"adamw-cosine:3e-3"`` -> ``("adamw-cosine", 0.003)``; ``ValueError`` naming ``run`` otherwise."""
    name, sep, lr = text.partition(":")
    if not sep or name not in {**RECIPES, **EXTRA_RECIPES}:
        names = sorted({**RECIPES, **EXTRA_RECIPES})
        raise ValueError(f"Invalid run: {text!r} (expected NAME:LR with NAME in {names})")
    try:
        value = float(lr)
    except ValueError:
        raise ValueError(f"Invalid run: {text!r} (the learning rate is not a number)") from None
    return name, value


def run_training(
    name: str,
    lr: float,
    steps: int,
    batch_size: int,
    seed: int = 0,
    warmup_steps: int = 0,
    eval_every: int = 25,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    config: LMConfig = LMConfig(),
    corpus: Optional[Corpus] = None,
) -> tuple[TinyTransformer, dict]:
    """Train one model; data-parallel over the default process group when one is initialised.

    Returns the trained (bare) model and a record of the run. ``batch_size`` is the *global* batch.
    """
    corpus = corpus if corpus is not None else Corpus.load()
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.manual_seed(seed)
    model = TinyTransformer(config, seed=seed).to(dtype=dtype)
    make, schedule = make_recipe(name, lr, steps, warmup_steps)
    if distributed:
        ids = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else None
        wrap = lambda m: DistributedDataParallel(m, device_ids=ids)  # noqa: E731
    else:
        wrap = None
    start = time.perf_counter()
    hist = train_lm(
        model, make, corpus, steps, batch_size=batch_size, schedule=schedule, eval_every=eval_every, seed=seed,
        device=device, rank=rank, world_size=world, wrap=wrap,
    )
    record = dict(
        name=name, lr=lr, steps=steps, global_batch=batch_size, world_size=world, seed=seed,
        eval_steps=hist.eval_steps, val_loss=hist.val_loss, final_val_loss=hist.val_loss[-1],
        train_seconds=hist.seconds, wall_seconds=time.perf_counter() - start, diverged=hist.diverged,
    )
    return model, record


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="append", required=True, help="NAME:LR, repeatable")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch (all processes together)")
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (nccl)")
    parser.add_argument("--out", type=Path, help="JSON file for the records (written by process 0)")
    parser.add_argument("--save-params", type=Path, help="folder for NAME_LR.pt state dicts (process 0)")
    args = parser.parse_args(argv)
    runs = [parse_run(text) for text in args.train]
    torch.set_num_threads(1)
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    device = args.device
    if launched:
        cuda = torch.device(device).type == "cuda"
        if cuda:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        rank = dist.get_rank() if launched else 0
        corpus = Corpus.load()
        records = []
        for name, lr in runs:
            model, record = run_training(
                name, lr, args.steps, args.batch_size, seed=args.seed, warmup_steps=args.warmup_steps,
                eval_every=args.eval_every, dtype=getattr(torch, args.dtype), device=device, corpus=corpus,
            )
            records.append(record)
            if rank == 0 and args.save_params is not None:
                args.save_params.mkdir(parents=True, exist_ok=True)
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                torch.save(state, args.save_params / f"{name}_{lr:g}.pt")
        if rank == 0 and args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(records, indent=1) + "\n")
    finally:
        if launched:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
