"""A tiny character-level language model for the optimizer bake-off (chapter ``ch-bakeoff``).

Everything a fair optimizer comparison needs, and nothing else:

* :data:`CORPUS_MODULES` and :func:`load_corpus`: a fixed, documented list of Python standard-library source
  files, read from the running interpreter (no download). The stdlib changes between Python patch releases, so
  :func:`corpus_sha256` hashes the text and the stored results record that hash (they were produced on Python
  3.11.7).
* :class:`CharTokenizer`: a fixed vocabulary (newline, printable ASCII, and one "unknown" id), so the vocabulary
  does not depend on the corpus.
* :class:`TinyTransformer`: a pre-LayerNorm GPT-style decoder (learned positions, causal self-attention, GELU MLP,
  no biases in linear layers, untied head).
* :func:`split_params_for_muon`: hidden 2-D weights (for Muon) versus everything else (embeddings, head, LayerNorm
  gains and biases, for AdamW), the split modded-nanogpt uses.
* :func:`train_lm`: a training loop that takes an *optimizer factory* and a *schedule shape* from
  :mod:`reference_impl.schedules`, evaluates on a fixed validation set, and records losses, learning rates and
  wall-clock time; :func:`optimizer_state_bytes` measures optimizer-state memory.

Learning-rate schedules and several optimizers: a schedule here is built with peak value 1 (e.g.
``warmup_cosine(1.0, 20, 400)``) and read as a *multiplier*; each parameter group's lr is its own peak lr (the
value it was created with) times ``schedule(step)``. That lets Muon (peak lr 0.03) and the AdamW it shares a model
with (peak lr 3e-3) follow the same shape.
"""

from __future__ import annotations

import hashlib
import math
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

import torch
from torch import nn
from torch.nn import functional as F

from ._validation import check_nonnegative_int, check_positive, check_positive_int
from .optim.state_size import optimizer_state_bytes  # re-exported: the bake-off reports it

__all__ = [
    "CORPUS_MODULES",
    "CharTokenizer",
    "Corpus",
    "LMConfig",
    "LMHistory",
    "TinyTransformer",
    "corpus_sha256",
    "evaluate",
    "get_batch",
    "load_corpus",
    "optimizer_state_bytes",
    "RECIPES",
    "recipe",
    "split_params_for_muon",
    "train_lm",
]

CORPUS_MODULES: tuple[str, ...] = (
    "bisect.py",
    "calendar.py",
    "colorsys.py",
    "difflib.py",
    "fnmatch.py",
    "fractions.py",
    "functools.py",
    "heapq.py",
    "queue.py",
    "shlex.py",
    "statistics.py",
    "string.py",
    "textwrap.py",
)
"""The standard-library files of the corpus, in this order (paths relative to ``sysconfig``'s ``stdlib``)."""


def load_corpus(modules: Sequence[str] = CORPUS_MODULES, root: Optional[Union[str, Path]] = None) -> str:
    """Concatenate the source of ``modules`` (stdlib-relative paths) into one string, one file after another.

    Each file is preceded by a header line ``# ==== <name> ====`` and ends with a newline. ``root`` defaults to
    the running interpreter's standard library. Raises ``ValueError`` when a module is missing.
    """
    base = Path(root) if root is not None else Path(sysconfig.get_paths()["stdlib"])
    if len(modules) == 0:
        raise ValueError("Invalid modules: expected at least one file name")
    parts = []
    for name in modules:
        path = base / name
        if not path.is_file():
            raise ValueError(f"Invalid modules: {name!r} not found under {base}")
        text = path.read_text(encoding="utf-8")
        parts.append(f"# ==== {name} ====\n{text.rstrip()}\n")
    return "".join(parts)


def corpus_sha256(text: str) -> str:
    """SHA-256 of the UTF-8 text: stored with results so that another machine can check it has the same corpus."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CharTokenizer:
    """Characters to ids with a fixed vocabulary: ``"\\n"`` (id 0), printable ASCII 32..126 (ids 1..95), unknown (96).

    Every other character (tabs, non-ASCII) maps to the unknown id and decodes as ``"?"``.
    """

    UNKNOWN = "?"

    def __init__(self) -> None:
        self.chars = ["\n"] + [chr(c) for c in range(32, 127)]
        self.unknown_id = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, text: str) -> torch.Tensor:
        """A 1-D ``torch.long`` tensor of ids."""
        return torch.tensor([self._ids.get(ch, self.unknown_id) for ch in text], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] if 0 <= i < len(self.chars) else self.UNKNOWN for i in map(int, ids))


@dataclass
class Corpus:
    """Encoded train/validation token streams (validation = the last ``val_fraction`` of the text)."""

    train: torch.Tensor
    val: torch.Tensor
    sha256: str
    tokenizer: CharTokenizer

    @classmethod
    def from_text(cls, text: str, val_fraction: float = 0.1) -> "Corpus":
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"Invalid val_fraction: {val_fraction!r} (expected a number in (0, 1))")
        tok = CharTokenizer()
        ids = tok.encode(text)
        cut = int(round(len(ids) * (1.0 - val_fraction)))
        return cls(train=ids[:cut], val=ids[cut:], sha256=corpus_sha256(text), tokenizer=tok)

    @classmethod
    def load(cls, modules: Sequence[str] = CORPUS_MODULES, val_fraction: float = 0.1) -> "Corpus":
        return cls.from_text(load_corpus(modules), val_fraction)


def get_batch(
    data: torch.Tensor, batch_size: int, context: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``context`` tokens (inputs) and the same windows shifted by one (targets)."""
    check_positive_int("batch_size", batch_size)
    check_positive_int("context", context)
    if len(data) <= context + 1:
        raise ValueError(f"Invalid context: {context} (the data has only {len(data)} tokens)")
    starts = torch.randint(0, len(data) - context - 1, (batch_size,), generator=generator)
    offsets = torch.arange(context)
    x = data[starts[:, None] + offsets]
    y = data[starts[:, None] + offsets + 1]
    return x, y


def validation_windows(data: torch.Tensor, n_windows: int, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_windows`` evenly spaced windows over ``data``: the same validation set for every run."""
    check_positive_int("n_windows", n_windows)
    starts = torch.linspace(0, len(data) - context - 2, n_windows).long()
    offsets = torch.arange(context)
    return data[starts[:, None] + offsets], data[starts[:, None] + offsets + 1]


@dataclass(frozen=True)
class LMConfig:
    """Size of :class:`TinyTransformer` (defaults: ~0.1 M parameters, fits a CPU budget)."""

    vocab_size: int = 97
    context: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context", "d_model", "n_layers", "n_heads"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(f"Invalid n_heads: {self.n_heads} does not divide d_model = {self.d_model}")


class _Block(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False)
        self.fc_out = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Pre-LayerNorm causal transformer: ``tok_emb``, ``pos_emb``, ``blocks``, ``ln_f``, ``head``.

    ``forward(idx)`` returns logits of shape ``(batch, time, vocab)``; ``loss(idx, targets)`` the mean
    cross-entropy in nats per character.
    """

    def __init__(self, cfg: LMConfig = LMConfig(), seed: int = 0) -> None:
        super().__init__()
        check_nonnegative_int("seed", seed)
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        with torch.no_grad():  # GPT-2 style init from our own generator: the seed alone fixes the weights
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    residual_out = name.endswith(("proj.weight", "fc_out.weight"))
                    std = 0.02 / math.sqrt(2 * cfg.n_layers) if residual_out else 0.02
                    p.copy_(torch.randn(p.shape, generator=gen) * std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.cfg.context:
            raise ValueError(f"Invalid idx: {t} tokens exceed the context of {self.cfg.context}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self(idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def split_params_for_muon(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(hidden_matrices, others)``: 2-D weights inside the blocks go to Muon; embeddings, head, gains and
    biases go to AdamW (as in modded-nanogpt: Muon is meant for hidden linear layers only)."""
    hidden, others = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_io = name.startswith(("tok_emb", "pos_emb", "head"))
        (hidden if p.ndim == 2 and not is_io else others).append(p)
    return hidden, others


OptimizerFactory = Callable[[nn.Module], Union[torch.optim.Optimizer, Sequence[torch.optim.Optimizer]]]


def _as_list(opt) -> list[torch.optim.Optimizer]:
    return [opt] if isinstance(opt, torch.optim.Optimizer) else list(opt)


def _set_mode(optimizers: Sequence[torch.optim.Optimizer], mode: str) -> None:
    # schedule-free optimizers keep two points: evaluate at x (eval), take gradients at y (train)
    for opt in optimizers:
        if hasattr(opt, mode) and callable(getattr(opt, mode)):
            getattr(opt, mode)()


@torch.no_grad()
def evaluate(model: TinyTransformer, x: torch.Tensor, y: torch.Tensor, chunk: int = 64) -> float:
    """Mean cross-entropy (nats/char) of ``model`` on the windows ``x``, ``y``."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(x), chunk):
        total += model.loss(x[i : i + chunk], y[i : i + chunk]).item() * len(x[i : i + chunk])
    model.train(was_training)
    return total / len(x)


@dataclass
class LMHistory:
    """What :func:`train_lm` records: ``eval_steps`` and ``val_loss`` (the same length), per-step ``train_loss``
    and ``lr_factor``, ``seconds`` (training time, evaluation excluded), ``state_bytes`` and ``n_params``."""

    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr_factor: list[float] = field(default_factory=list)
    seconds: float = 0.0
    state_bytes: int = 0
    n_params: int = 0
    diverged: bool = False


def train_lm(
    model: TinyTransformer,
    make_optimizer: OptimizerFactory,
    corpus: Corpus,
    steps: int,
    batch_size: int = 32,
    schedule: Optional[Callable[[int], float]] = None,
    eval_every: int = 25,
    val_windows: int = 128,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    rank: int = 0,
    world_size: int = 1,
    wrap: Optional[Callable[[nn.Module], nn.Module]] = None,
) -> LMHistory:
    """Train ``model`` for ``steps`` steps on random windows of ``corpus.train``; evaluate on fixed windows.

    Args:
        model: the network (moved to ``device``).
        make_optimizer: ``model -> optimizer`` or ``model -> [optimizers]`` (e.g. Muon + AdamW).
        corpus: the encoded text.
        steps: number of optimizer steps.
        batch_size: windows per step.
        schedule: ``step -> factor``; every parameter group's lr is its initial lr times the factor
            (``None``: constant). Build it with peak 1, e.g. ``reference_impl.schedules.warmup_cosine(1.0, ...)``.
        eval_every: validation loss is computed at step 0, every ``eval_every`` steps and after the last step.
        val_windows: number of fixed validation windows.
        seed: seed of the batch sampler (the model's initial weights come from its own seed).
        device: ``"cpu"`` or ``"cuda"``.
        rank, world_size: data parallelism. Every process draws the same global batch of ``batch_size`` windows
            and trains on its own contiguous shard of ``batch_size / world_size`` windows (``batch_size`` must be
            divisible by ``world_size``); with ``world_size = 1`` (the default) this is plain training.
        wrap: applied to the model once it is on ``device``, e.g.
            ``lambda m: torch.nn.parallel.DistributedDataParallel(m)``; forward passes go through the wrapper (so
            DDP averages the gradients over the processes), evaluation uses the bare model.

    A run whose training loss becomes non-finite stops early with ``diverged=True`` and a validation loss of
    ``inf`` at the remaining evaluation points.
    """
    check_positive_int("steps", steps)
    check_positive_int("eval_every", eval_every)
    check_nonnegative_int("seed", seed)
    check_positive_int("world_size", world_size)
    check_nonnegative_int("rank", rank)
    if rank >= world_size or batch_size % world_size:
        raise ValueError(f"Invalid world_size: {world_size} (rank {rank}, batch_size {batch_size} must divide)")
    shard = batch_size // world_size
    model.to(device)
    net = wrap(model) if wrap is not None else model
    optimizers = _as_list(make_optimizer(model))
    peak = [[g["lr"] for g in opt.param_groups] for opt in optimizers]
    gen = torch.Generator().manual_seed(seed)
    vx, vy = validation_windows(corpus.val, val_windows, model.cfg.context)
    vx, vy = vx.to(device), vy.to(device)
    hist = LMHistory(n_params=sum(p.numel() for p in model.parameters()))

    def record(step: int) -> None:
        _set_mode(optimizers, "eval")
        hist.eval_steps.append(step)
        hist.val_loss.append(math.inf if hist.diverged else evaluate(model, vx, vy))
        _set_mode(optimizers, "train")

    model.train()
    _set_mode(optimizers, "train")
    record(0)
    for step in range(steps):
        factor = 1.0 if schedule is None else float(schedule(step))
        for opt, lrs in zip(optimizers, peak, strict=True):
            for group, lr in zip(opt.param_groups, lrs, strict=True):
                group["lr"] = lr * factor
        x, y = get_batch(corpus.train, batch_size, model.cfg.context, gen)
        x, y = x[rank * shard : (rank + 1) * shard], y[rank * shard : (rank + 1) * shard]
        start = time.perf_counter()
        logits = net(x.to(device))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1))
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        hist.seconds += time.perf_counter() - start
        hist.train_loss.append(loss.item())
        hist.lr_factor.append(factor)
        if not math.isfinite(hist.train_loss[-1]):
            hist.diverged = True
        if (step + 1) % eval_every == 0 or step + 1 == steps or hist.diverged:
            record(step + 1)
        if hist.diverged:
            while hist.eval_steps[-1] < steps:
                nxt = min(steps, (hist.eval_steps[-1] // eval_every + 1) * eval_every)
                hist.eval_steps.append(nxt)
                hist.val_loss.append(math.inf)
            break
    hist.state_bytes = optimizer_state_bytes(optimizers)
    return hist


# ---------------------------------------------------------------------------------------------------------------
# The bake-off's recipes: one optimizer (or Muon + AdamW) and one schedule shape per entry
# ---------------------------------------------------------------------------------------------------------------

RECIPES: dict[str, str] = {
    "adamw-cosine": "AdamW, linear warm-up then cosine to 0",
    "adamw-wsd": "AdamW, warm-up / stable / linear decay over the last 20%",
    "lion": "Lion (λ 10× AdamW's), warm-up + cosine",
    "soap": "SOAP (all parameters), warm-up + cosine",
    "muon": "Muon on hidden matrices + AdamW on the rest, warm-up + cosine",
    "sf-adamw": "schedule-free AdamW, its own warm-up, no schedule",
}
"""Names accepted by :func:`recipe`, with a one-line description."""

ADAM_BETAS = (0.9, 0.95)
"""β₁, β₂ of the Adam-type recipes (the usual language-model values)."""


def recipe(
    name: str, lr: float, steps: int, warmup_steps: int, aux_lr: float = 3e-3, weight_decay: float = 0.1
) -> tuple[OptimizerFactory, Optional[Callable[[int], float]]]:
    """``(make_optimizer, schedule)`` for the bake-off entry ``name`` (see :data:`RECIPES`) at peak lr ``lr``.

    Fixed choices (not swept): Adam-type betas :data:`ADAM_BETAS`; decoupled weight decay ``weight_decay`` in
    torch's convention (the step multiplies it by the lr) for AdamW, SOAP and schedule-free AdamW; Lion gets
    10× that (its lr is ~10× smaller, so lr·λ stays comparable, the authors' rule); Muon's own decay is
    ``weight_decay / 10`` for the same reason, and its non-matrix parameters use AdamW at ``aux_lr``. The schedule
    is a multiplier with peak 1 (see :func:`train_lm`); schedule-free AdamW warms up internally and gets none.
    """
    from . import optim, schedules  # local import: the optimizers and schedules are the library's own

    check_positive("lr", lr)
    check_positive_int("steps", steps)
    check_nonnegative_int("warmup_steps", warmup_steps)
    cosine = schedules.warmup_cosine(1.0, warmup_steps, steps)
    if name == "adamw-cosine":
        return (lambda m: optim.AdamW(m.parameters(), lr=lr, betas=ADAM_BETAS, weight_decay=weight_decay)), cosine
    if name == "adamw-wsd":
        wsd = schedules.wsd(1.0, steps, warmup_steps, decay_steps=max(1, steps // 5))
        return (lambda m: optim.AdamW(m.parameters(), lr=lr, betas=ADAM_BETAS, weight_decay=weight_decay)), wsd
    if name == "lion":
        return (lambda m: optim.Lion(m.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=10 * weight_decay)), cosine
    if name == "soap":
        return (
            lambda m: optim.SOAP(m.parameters(), lr=lr, betas=(0.95, 0.95), weight_decay=weight_decay,
                                 precondition_frequency=10)
        ), cosine
    if name == "muon":

        def make(m: nn.Module):
            hidden, others = split_params_for_muon(m)
            return [
                optim.Muon(hidden, lr=lr, momentum=0.95, nesterov=True, weight_decay=weight_decay / 10),
                optim.AdamW(others, lr=aux_lr, betas=ADAM_BETAS, weight_decay=weight_decay),
            ]

        return make, cosine
    if name == "sf-adamw":
        return (
            lambda m: optim.AdamWScheduleFree(m.parameters(), lr=lr, betas=ADAM_BETAS, weight_decay=weight_decay,
                                              warmup_steps=warmup_steps)
        ), None
    raise ValueError(f"Invalid name: {name!r} (expected one of {sorted(RECIPES)})")
