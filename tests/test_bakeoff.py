"""The bake-off's language-model helpers, a reduced run of ``scripts/bakeoff.py`` and the stored results' schema."""

import json
import math
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reference_impl.lm import (
    CORPUS_MODULES,
    RECIPES,
    CharTokenizer,
    Corpus,
    LMConfig,
    TinyTransformer,
    corpus_sha256,
    load_corpus,
    optimizer_state_bytes,
    recipe,
    split_params_for_muon,
    train_lm,
)

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "results" / "bakeoff.json"
SMALL = LMConfig(vocab_size=97, context=16, d_model=16, n_layers=1, n_heads=2)


def test_tokenizer_round_trip_and_unknowns():
    tok = CharTokenizer()
    text = "def f(x):\n    return x ** 2  # ok ~\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == 97
    assert tok.decode(tok.encode("a\tb\u00e9")) == "a?b?"


def test_corpus_is_the_listed_files_and_hash_is_sha256():
    text = load_corpus(CORPUS_MODULES[:2])
    assert text.startswith(f"# ==== {CORPUS_MODULES[0]} ====\n")
    assert f"# ==== {CORPUS_MODULES[1]} ====\n" in text
    import hashlib

    assert corpus_sha256(text) == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ValueError, match="modules"):
        load_corpus(["no_such_module_here.py"])


def test_muon_split_gives_hidden_matrices_only():
    model = TinyTransformer(LMConfig(), seed=0)
    hidden, others = split_params_for_muon(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[-2] for p in hidden} == {"qkv", "proj", "fc", "fc_out"}
    assert all(p.ndim == 2 for p in hidden)
    assert {"tok_emb.weight", "pos_emb.weight", "head.weight"} <= {names[id(p)] for p in others}
    assert len(hidden) + len(others) == len(list(model.parameters()))


def test_same_seed_same_model_and_state_bytes():
    a, b = TinyTransformer(SMALL, seed=3), TinyTransformer(SMALL, seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    corpus = Corpus.from_text(load_corpus(CORPUS_MODULES[:1]))
    make, schedule = recipe("muon", 0.02, steps=4, warmup_steps=1)
    hist = train_lm(a, make, corpus, 4, batch_size=4, schedule=schedule, eval_every=2, val_windows=4)
    hidden, others = split_params_for_muon(a)
    # Muon keeps one buffer per hidden matrix, AdamW two per other parameter (float32: 4 bytes each)
    expected = 4 * sum(p.numel() for p in hidden) + 8 * sum(p.numel() for p in others)
    assert hist.state_bytes == expected
    assert hist.eval_steps == [0, 2, 4] and len(hist.val_loss) == 3
    assert hist.lr_factor[0] == 0.0 and hist.lr_factor[1] == 1.0  # warm-up from 0, then the cosine
    make, _ = recipe("adamw-cosine", 1e-3, steps=4, warmup_steps=1)
    opt = make(b)
    assert optimizer_state_bytes(opt) == 0  # lazy state


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="name"):
        recipe("adam-but-better", 1e-3, 10, 1)
    with pytest.raises(ValueError, match="n_heads"):
        LMConfig(d_model=10, n_heads=3)
    corpus = Corpus.from_text(load_corpus(CORPUS_MODULES[:1]))
    make, _ = recipe("adamw-cosine", 1e-3, 2, 0)
    with pytest.raises(ValueError, match="world_size"):
        train_lm(TinyTransformer(SMALL), make, corpus, 2, batch_size=5, world_size=2)


def _check_schema(results: dict, recipes: list[str], n_seeds: int) -> None:
    meta = results["meta"]
    for key in ("python", "torch", "corpus_modules", "corpus_sha256", "model", "settings", "lr_grids"):
        assert key in meta
    assert meta["corpus_modules"] == list(CORPUS_MODULES)
    assert set(results["best_lr"]) == set(recipes)
    for name in recipes:
        assert results["best_lr"][name] in meta["lr_grids"][name]
    assert math.isfinite(results["target_loss"])
    for run in results["sweep"] + results["final"]:
        assert run["recipe"] in RECIPES
        assert run["eval_steps"][0] == 0 and run["eval_steps"][-1] == meta["settings"]["steps"]
        assert len(run["val_loss"]) == len(run["eval_steps"])
    for name in recipes:
        s = results["summary"][name]
        assert len(s["final_losses"]) == len(s["steps_to_target"]) == n_seeds
        assert s["state_bytes_per_param"] > 0
        if name != "adamw-cosine" and n_seeds > 1:
            assert 0.0 <= s["p_value"] <= s["p_holm"] <= 1.0
            assert isinstance(s["significant"], bool)
    assert results["summary"]["adamw-cosine"]["state_bytes_per_param"] == 8.0  # m and v, float32


@pytest.mark.slow
def test_reduced_sweep_writes_the_schema(tmp_path):
    out = tmp_path / "quick.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "bakeoff.py"), "--quick", "--silent", "--fresh",
           "--recipes", "adamw-cosine", "muon", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    _check_schema(results, ["adamw-cosine", "muon"], n_seeds=1)
    assert results["meta"]["quick"] is True
    assert results["meta"]["corpus_sha256"] == corpus_sha256(load_corpus())


def test_stored_results_have_the_schema():
    # chapter 12 reads these stored results: they must exist and be complete
    assert STORED.exists(), "results/bakeoff.json is missing: run `make bakeoff`"
    results = json.loads(STORED.read_text())
    assert "summary" in results, "results/bakeoff.json holds an unfinished sweep (no summary)"
    _check_schema(results, list(RECIPES), n_seeds=len(results["meta"]["settings"]["final_seeds"]))
    assert results["meta"]["quick"] is False
    assert "ms_per_step" in results.get("timing", {})
    if platform.python_version() == results["meta"]["python"]:
        assert results["meta"]["corpus_sha256"] == corpus_sha256(load_corpus())


def test_holm_adjustment_by_hand():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bakeoff_script", ROOT / "scripts" / "bakeoff.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # sorted: a 0.01 * 3 = 0.03; c 0.03 * 2 = 0.06; b 0.04 * 1 = 0.04, raised to 0.06 (monotone)
    adjusted = mod._holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert mod._holm({"a": 0.6, "b": 0.7}) == pytest.approx({"a": 1.0, "b": 1.0})


def test_stored_ddp_scaling_results_have_the_schema():
    path = ROOT / "results" / "ddp_scaling.json"
    assert path.exists(), "results/ddp_scaling.json is missing: run scripts/ddp_scaling.py"
    results = json.loads(path.read_text())
    assert results["meta"]["world_size"] == 2 and results["meta"]["backend"] == "gloo"
    factors = results["meta"]["factors"]
    for entry in results["summary"].values():
        assert set(entry["rules"]) == set(factors)
        assert entry["closest"] in factors and entry["predicted"] in factors
    for run in results["runs"]:
        assert run["world_size"] == (2 if run["role"] == "ddp" else 1)
        # equal samples: the two-process runs take half the steps with twice the batch
        assert run["samples"][-1] == results["meta"]["baseline_steps"] * results["meta"]["batch_per_process"]
    for entry in results.get("optimal_lr", {}).get("summary", {}).values():
        best_small, best_large = entry["batch_16"]["best_lr"], entry["batch_32"]["best_lr"]
        assert best_small in entry["grid"] and best_large in entry["grid"]
        assert entry["ratio"] == pytest.approx(best_large / best_small)
