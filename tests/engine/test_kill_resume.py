"""``kill -9`` during training, then the newest checkpoint is corrupted: ``--resume auto``
skips it (and says so), continues from the previous verified one, and the result is
bit-for-bit the run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from restorekit.engine import checkpoint as ckpt

from ..conftest import ROOT, run_cli
from .toys import save_pairs


@pytest.mark.slow
def test_kill_9_then_corrupt_newest_checkpoint_resumes_bit_exactly(tmp_path: Path) -> None:
    data = save_pairs(tmp_path / "data", 12, seed=0)
    cfg = {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}},
        "losses": [{"type": "standard.l1"}],
        "data": {"train": {"type": "paired", "root": str(data), "crop": 8, "flips": True}},
        "train": {"batch_size": 4, "lr": 3e-3, "iterations": 100000, "checkpoint_every": 3, "log_every": 1, "ema": 0.9},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOREKIT_")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "restorekit", "train", str(path), "--out", str(run), "--device", "cpu", "--no-progress"],
        cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while len(ckpt.list_checkpoints(run / "checkpoints")) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "training never wrote three checkpoints"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    found = ckpt.list_checkpoints(run / "checkpoints")
    (newest_it, newest), (prev_it, prev) = found[-1], found[-2]
    state = (newest / "state.pt").read_bytes()
    (newest / "state.pt").write_bytes(state[: len(state) // 2])  # a truncated write / bit-rot

    stop = newest_it + 3
    resumed = run_cli(["train", str(path), "--out", str(run), "--device", "cpu", "--no-progress", "--resume", "auto",
                       "--stop-after", str(stop)], env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    text = resumed.stdout + resumed.stderr
    assert f"skipped {newest}" in text and "state.pt" in text, text
    assert f"resumed from {prev}" in text, text
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")], "debris left behind"

    reference = run_cli(["train", str(path), "--out", str(tmp_path / "ref"), "--device", "cpu", "--no-progress",
                         "--stop-after", str(stop)], env={"OMP_NUM_THREADS": "1"})
    assert reference.returncode == 0, reference.stderr
    name = ckpt.checkpoint_name(stop)
    a = load_file(str(run / "checkpoints" / name / "model.safetensors"))
    b = load_file(str(tmp_path / "ref" / "checkpoints" / name / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ea = load_file(str(run / "checkpoints" / name / "ema.safetensors"))
    eb = load_file(str(tmp_path / "ref" / "checkpoints" / name / "ema.safetensors"))
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["kind"], r["iteration"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate metrics rows after the resume"
    ref_rows = {r["iteration"]: r["loss"] for r in map(json.loads, (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines())}
    assert {r["iteration"]: r["loss"] for r in rows if r["kind"] == "train"} == ref_rows
