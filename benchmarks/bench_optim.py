"""Speed and memory of every reference_impl optimizer against torch's fastest CPU path and its oracle package,
on one ~10M-parameter model (CPU, float32). One run prints one table.

Usage::

    .venv/bin/python benchmarks/bench_optim.py            # 10 x Linear(1000, 1000), 40 timed steps
    .venv/bin/python benchmarks/bench_optim.py --quick    # 40 x Linear(500, 500), 20 timed steps

What is measured: the wall-clock time of ``optimizer.step()`` alone (gradients are fixed random tensors set once, so
no forward or backward pass is timed). Every competitor of a row gets its own copy of the same parameters and
gradients, and the competitors are timed *interleaved* (one step each per round, the order rotated every round) so
that load changes on a shared machine hit all of them alike; the table reports medians over the timed rounds, after
warm-up rounds that also create the optimizer state and compile the fast paths.

Competitors of a row (a dash where one does not exist):

* ``ours eager``: our optimizer as constructed by default (the readable update function, tensor by tensor);
* ``ours fast``: ``fused=True`` -- the same update function over the whole group, compiled with ``torch.compile``;
* ``torch single`` / ``foreach`` / ``fused``: ``torch.optim`` with ``foreach=False`` / ``foreach=True`` /
  ``fused=True`` (torch has fused CPU kernels for SGD, Adagrad, Adam and AdamW);
* ``oracle pkg``: the oracle package where the oracle is not torch (``lion_pytorch``, ``pytorch_optimizer``,
  ``schedulefree`` with its default ``foreach=True``);
* ``copy``: ``dst.copy_(src)`` and ``x.mul_(1.0)`` (an in-place pass, the access pattern of an optimizer) over one
  flat buffer of the model's size, each counted as 2 streams (one read, one write per element); the faster of the
  two sets the measured bandwidth. (``copy_`` alone was up to 2x slower than the in-place pass here -- its
  destination is read for ownership before it is written -- and torch's fused Adam then beat a copy-based
  "floor".) From it the *bandwidth floor* of a row: the time to move the bytes that a one-pass update must read
  and write (Adam reads θ, g, m, v and writes θ, m, v: 7 streams of 4 bytes per parameter).

Ratios: ``fast/best`` is ours fast over the fastest of torch's paths (or the oracle package where torch has no
such optimizer); ``fast/floor`` is ours fast over the floor. Compilation (the first ``fused=True`` step, which pays
it) is printed separately, below the table, with the load average before and after the run.

Large temporaries matter more than arithmetic here: with glibc's default malloc a freed multi-megabyte tensor is
often returned to the system and the next one page-faults in fresh memory, which penalises the paths that allocate
temporaries (single-tensor and foreach ones); ``MALLOC_MMAP_THRESHOLD_=1073741824
MALLOC_TRIM_THRESHOLD_=4294967296`` keeps that memory. Compare both before reading much into a ratio.

Slow rows: a row estimated (from one step on one layer) to take longer than ``--row-budget`` seconds (default 60)
is timed on the first layers only -- every layer has the same shapes, so the same cost -- and its times are scaled
to the whole model; if even one layer is too slow, with 1 warm-up and 3 timed steps. Such a row is marked ``*`` and
its note says how it was timed. (SOAP and Muon: on a CPU without bfloat16 instructions one Muon step of the whole
model takes minutes.)

Targets (issue 18): ours fast <= 1.2x torch's fastest CPU path; Adam/AdamW fast <= 1.3x the floor; schedule-free
<= 1.10x the authors' package. The machine running this may be shared: rerun before concluding from < 10%.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch._inductor.config

import reference_impl.optim as ours


@dataclass
class Row:
    """One optimizer: its competitors (name -> params -> optimizer) and the streams of a one-pass update."""

    name: str
    ours: str  # class name in reference_impl.optim
    kwargs: dict
    competitors: dict = field(default_factory=dict)  # column -> builder(params, **kwargs)
    streams: Optional[int] = None  # tensors read + written per element by a one-pass update (None: not elementwise)
    fast: bool = True  # ours has a fused=True path
    matrices_only: bool = False
    schedule_free: bool = False
    note: str = ""


COLUMNS = ["ours eager", "ours fast", "torch single", "torch foreach", "torch fused", "oracle pkg"]
TORCH_COLUMNS = ["torch single", "torch foreach", "torch fused", "oracle pkg"]


def _torch(cls, fused: bool) -> dict:
    out = {
        "torch single": lambda p, **kw: cls(p, foreach=False, **kw),
        "torch foreach": lambda p, **kw: cls(p, foreach=True, **kw),
    }
    if fused:
        out["torch fused"] = lambda p, **kw: cls(p, fused=True, **kw)
    return out


def rows() -> list[Row]:
    table = []
    for name, cls, kwargs, fused, streams in (
        ("SGD (momentum)", torch.optim.SGD, dict(lr=1e-2, momentum=0.9, weight_decay=1e-4), True, 5),
        ("Adagrad", torch.optim.Adagrad, dict(lr=1e-2), True, 5),
        ("RMSprop", torch.optim.RMSprop, dict(lr=1e-3), False, 5),
        ("RMSprop (mom., centered)", torch.optim.RMSprop, dict(lr=1e-3, momentum=0.9, centered=True), False, 9),
        ("Adadelta", torch.optim.Adadelta, dict(), False, 7),
        ("Adam", torch.optim.Adam, dict(lr=1e-3), True, 7),
        ("Adam (amsgrad)", torch.optim.Adam, dict(lr=1e-3, amsgrad=True), True, 9),
        ("AdamW", torch.optim.AdamW, dict(lr=1e-3, weight_decay=1e-2), True, 7),
    ):
        table.append(Row(name, cls.__name__, kwargs, _torch(cls, fused), streams))

    from lion_pytorch import Lion

    table.append(Row("Lion", "Lion", dict(lr=1e-4, weight_decay=0.1), {"oracle pkg": Lion}, 5,
                     note="oracle: lion_pytorch"))

    import pytorch_optimizer

    lamb = pytorch_optimizer.Lamb
    table.append(Row("Lamb", "Lamb", dict(lr=1e-3, weight_decay=1e-2),
                     {"oracle pkg": lambda p, **kw: lamb(p, weight_decouple=False, adam_debias=True, **kw)},
                     fast=False, note="oracle: pytorch_optimizer.Lamb (a slightly different variant, same work)"))
    table.append(Row("SOAP", "SOAP", dict(lr=3e-3), {"oracle pkg": pytorch_optimizer.SOAP}, fast=False,
                     note="oracle: pytorch_optimizer.SOAP"))
    table.append(Row("Muon", "Muon", dict(lr=1e-3), {"torch single": torch.optim.Muon}, fast=False,
                     matrices_only=True,
                     note="2-D parameters only; oracle: torch.optim.Muon (one code path). Both run Newton-Schulz in "
                          "bfloat16, whose matmul is many times slower than float32's on a CPU without "
                          "bfloat16 instructions"))

    import schedulefree

    for name, cls, kwargs, streams in (
        ("SGDScheduleFree", schedulefree.SGDScheduleFree, dict(lr=1.0), 5),
        ("AdamWScheduleFree", schedulefree.AdamWScheduleFree, dict(lr=2.5e-3), 7),
    ):
        table.append(Row(name, name, kwargs, {"oracle pkg": cls}, streams, schedule_free=True,
                         note="oracle: schedulefree (its default, foreach=True)"))
    return table


def make_params(width: int, depth: int, matrices_only: bool,
                seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The parameters of a stack of ``depth`` Linear(width, width) layers, and fixed gradients for them."""
    gen = torch.Generator().manual_seed(seed)
    params, grads = [], []
    for _ in range(depth):
        shapes = [(width, width)] if matrices_only else [(width, width), (width,)]
        for shape in shapes:
            params.append(torch.randn(shape, generator=gen) / width**0.5)
            grads.append(torch.randn(shape, generator=gen) * 1e-2)
    return params, grads


class _Copy:
    """A competitor that copies one flat buffer of the model's size: a memory-bandwidth reference."""

    def __init__(self, numel: int) -> None:
        self.src, self.dst = torch.randn(numel), torch.zeros(numel)

    def step(self) -> None:
        self.dst.copy_(self.src)


class _Scale(_Copy):
    """A competitor that scales one flat buffer in place (read and write the same memory): the other reference."""

    def step(self) -> None:
        self.src.mul_(1.0)


def _builders(row: Row) -> dict:
    builders = {"ours eager": lambda p, **kw: getattr(ours, row.ours)(p, **kw)}
    if row.fast:
        builders["ours fast"] = lambda p, **kw: getattr(ours, row.ours)(p, fused=True, **kw)
    builders.update(row.competitors)
    return builders


def _build(row: Row, build, base_params, grads):
    """One competitor on its own copy of the parameters, with the fixed gradients set (in train mode)."""
    params = [torch.nn.Parameter(p.clone()) for p in base_params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    opt = build(params, **row.kwargs)
    if row.schedule_free:
        opt.train()
    return opt


def fit_budget(row: Row, base_params, grads, warmup: int, steps: int, budget: float, layers: int):
    """Shrink a row whose step is so slow that timing it on the whole model would take longer than ``budget``
    seconds: time it on the first ``keep`` layers (all layers have the same shapes, so each costs the same) and,
    if one layer is still too slow, with 1 warm-up and 3 timed rounds. Returns (params, grads, warmup, steps,
    layers kept). The estimate is one step of ours (eager) on one layer, taken after a first step that creates
    the state, times the layers, competitors and rounds."""
    layer_size = len(base_params) // layers
    builders = _builders(row)
    opt = _build(row, builders["ours eager"], base_params[:layer_size], grads[:layer_size])
    opt.step()
    start = time.perf_counter()
    opt.step()
    per_layer_round = (time.perf_counter() - start) * len(builders)
    keep = layers
    if per_layer_round * layers * (warmup + steps) > budget:
        keep = max(1, int(budget / (per_layer_round * (warmup + steps))))
        if per_layer_round * keep * (warmup + steps) > budget:
            warmup, steps = 1, 3
    n = keep * layer_size
    return base_params[:n], grads[:n], warmup, steps, keep


def time_row(row: Row, base_params, grads, warmup: int, steps: int) -> dict:
    opts = {key: _build(row, build, base_params, grads) for key, build in _builders(row).items()}
    first = {}
    numel = sum(p.numel() for p in base_params)
    if "ours fast" in opts:  # the first fast steps compile: timed alone, reported apart from the step times
        start = time.perf_counter()
        opts["ours fast"].step()
        opts["ours fast"].step()  # SGD's first momentum step is eager (it creates the buffers); it compiles here
        first["ours fast"] = time.perf_counter() - start
    opts["copy"], opts["scale"] = _Copy(numel), _Scale(numel)
    times = {key: [] for key in opts}
    order = list(opts)
    for round_ in range(warmup + steps):
        order = order[1:] + order[:1]  # rotate who goes first
        for key in order:
            start = time.perf_counter()
            opts[key].step()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[key].append(elapsed)
    return {
        "median": {key: statistics.median(v) for key, v in times.items()},
        "bytes_per_param": {key: ours.optimizer_state_bytes(opt) / numel for key, opt in opts.items()
                            if key not in ("copy", "scale")},
        "first": first,
        "numel": numel,
    }


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "load average unavailable"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="20 timed steps after 3 warm-up (default: 40 and 5), and 40 x Linear(500, 500)")
    parser.add_argument("--width", type=int, help="layer width (default 1000; 500 with --quick)")
    parser.add_argument("--depth", type=int, help="number of layers (default 10; 40 with --quick): ~10M parameters")
    parser.add_argument("--only", nargs="*", help="run only these rows (names as printed)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: steadier timings on a shared machine)")
    parser.add_argument("--row-budget", type=float, default=60.0,
                        help="seconds a row should take (default 60): a row estimated to take longer is timed "
                             "on fewer layers (at least one, then with 1 warm-up and 3 timed steps), its times "
                             "scaled to the whole model, and marked with * (0: no limit)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warmup, steps = (3, 20) if args.quick else (5, 40)
    # The same ~10M parameters either way; narrower layers make SOAP's and Muon's matrix work (which grows with
    # the layer width per parameter) 2x cheaper, so that --quick finishes in minutes on a small CPU.
    args.width = args.width or (500 if args.quick else 1000)
    args.depth = args.depth or (40 if args.quick else 10)
    torch.manual_seed(0)

    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads; "
          f"model: {args.depth} x Linear({args.width}, {args.width}), float32, CPU; "
          f"median ms of {steps} step() calls after {warmup} warm-up, interleaved; {_load()} at start")
    header = (f"{'optimizer':25s} {'params':>6s} " + " ".join(f"{c:>9s}" for c in ("eager", "fast", "t.single",
              "t.foreach", "t.fused", "oracle", "floor")) + f" {'fast/best':>9s} {'fast/floor':>10s} "
              f"{'B/param ours':>12s} {'oracle':>6s}")
    print(header)
    print("-" * len(header))
    notes, compile_times = [], []
    for row in rows():
        if args.only and row.name not in args.only:
            continue
        base_params, grads = make_params(args.width, args.depth, row.matrices_only)
        row_warmup, row_steps, keep = warmup, steps, args.depth
        if args.row_budget > 0:
            base_params, grads, row_warmup, row_steps, keep = fit_budget(
                row, base_params, grads, warmup, steps, args.row_budget, args.depth)
        result = time_row(row, base_params, grads, row_warmup, row_steps)
        med, bpp = result["median"], result["bytes_per_param"]
        if keep < args.depth:  # every layer costs the same: the whole model's time is the subset's, scaled
            med = {key: value * args.depth / keep for key, value in med.items()}
            notes.append(f"{row.name}*: timed on {keep} of {args.depth} layers (one step of the whole model would "
                         f"take ~{med['ours eager']:.0f} s), times scaled x{args.depth / keep:g}; median of "
                         f"{row_steps} steps after {row_warmup} warm-up")
        numel = result["numel"] * args.depth // keep
        # bytes per second: a copy and an in-place scale each read and write numel floats; the faster one counts
        bandwidth = 2 * numel * 4 / min(med["copy"], med["scale"])
        floor = row.streams * numel * 4 / bandwidth if row.streams else None
        cells = [med.get(c) for c in COLUMNS] + [floor]
        best = min((med[c] for c in TORCH_COLUMNS if c in med), default=None)
        fast = med.get("ours fast")
        ratio_best = f"{fast / best:8.2f}x" if fast and best else f"{'-':>9s}"
        ratio_floor = f"{fast / floor:9.2f}x" if fast and floor else f"{'-':>10s}"
        oracle_key = next((c for c in TORCH_COLUMNS if c in bpp), None)
        oracle_bpp = f"{bpp[oracle_key]:6.1f}" if oracle_key else f"{'-':>6s}"
        label = row.name + ("*" if keep < args.depth else "")
        print(f"{label:25s} {numel / 1e6:5.2f}M "
              + " ".join(f"{v * 1e3:9.2f}" if v is not None else f"{'-':>9s}" for v in cells)
              + f" {ratio_best} {ratio_floor} {bpp['ours eager']:12.1f} {oracle_bpp}", flush=True)
        if "ours fast" in result["first"]:
            compile_times.append(f"{row.name}: {result['first']['ours fast']:.1f} s")
        if row.note:
            notes.append(f"{row.name}: {row.note}")
    print()
    print("eager / fast: ours (fused=False / fused=True); t.*: torch.optim foreach=False / foreach=True / fused=True;")
    print("oracle: the oracle package; floor: bytes a one-pass update moves / measured bandwidth (all in ms).")
    print("fast/best: ours fast / the fastest torch path (or the oracle package); fast/floor: ours fast / floor.")
    print("B/param: bytes of per-parameter optimizer state / number of parameters (ours, then the oracle's).")
    cache = "on" if getattr(torch._inductor.config, "fx_graph_cache", False) else "off"
    print(f"First two fused=True steps (compilation, once per process and group shapes; Inductor's on-disk cache "
          f"{cache}, so a rerun is faster): " + "; ".join(compile_times))
    print(f"{_load()} at the end. Timings on a shared machine are noisy: rerun before concluding from < 10%.")
    for note in notes:
        print(f"  - {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
