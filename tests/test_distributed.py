"""DistributedDataParallel (gloo, 2 processes via torchrun) equals one process on the combined batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reference_impl.distributed import parse_run, run_training
from reference_impl.lm import Corpus

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).parent / "torchrun"
STEPS, BATCH = 3, 8


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parse_run():
    assert parse_run("adamw-cosine:3e-3") == ("adamw-cosine", 0.003)
    assert parse_run("sgd:0.1") == ("sgd", 0.1)
    for bad in ("adamw", "nope:1e-3", "sgd:fast"):
        with pytest.raises(ValueError, match="run"):
            parse_run(bad)


@pytest.mark.slow
def test_ddp_two_processes_equal_single_process_on_the_combined_batch(tmp_path):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    port = _free_port()
    cmd = [
        str(TORCHRUN), "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={port}",
        "-m", "reference_impl.distributed", "--train", "sgd:0.1", "--train", "adamw-constant:0.01",
        "--steps", str(STEPS), "--batch-size", str(BATCH), "--eval-every", "100", "--dtype", "float64",
        "--save-params", str(tmp_path), "--out", str(tmp_path / "runs.json"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    corpus = Corpus.load()
    for name, lr in (("sgd", 0.1), ("adamw-constant", 0.01)):
        ddp = torch.load(tmp_path / f"{name}_{lr:g}.pt")
        single, _ = run_training(name, lr, STEPS, BATCH, eval_every=100, dtype=torch.float64, corpus=corpus)
        half, _ = run_training(name, lr, STEPS, BATCH // 2, eval_every=100, dtype=torch.float64, corpus=corpus)
        init = run_training(name, 0.0, 1, BATCH, eval_every=100, dtype=torch.float64, corpus=corpus)[0]
        moved = max((ddp[k] - v).abs().max().item() for k, v in init.state_dict().items())
        assert moved > 1e-4, f"{name}: the parameters did not move"
        for key, value in single.state_dict().items():
            assert ddp[key].dtype == torch.float64
            torch.testing.assert_close(ddp[key], value, rtol=0, atol=1e-10, msg=f"{name}: {key}")
        # the check can fail: training on one process's shard alone gives other parameters
        gap = max((ddp[k] - v).abs().max().item() for k, v in half.state_dict().items())
        assert gap > 1e-6, f"{name}: a half batch gives the same parameters, the test cannot tell"
