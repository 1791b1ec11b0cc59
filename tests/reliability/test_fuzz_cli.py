"""A table of bad inputs through the command line: each case ends with its exit status and
one ``error:`` line (never a traceback), and no file outside the case's output folder
changes (sha256 of the whole sentinel tree before and after every case).

The table runs through :mod:`tests.reliability.cli_driver` (one Python process, every case
exactly as ``python -m restorekit`` runs it); a few cases also run through a real
``python -m restorekit`` subprocess each (``run_cli``) to check the interpreter-level
behaviour (exit status, nothing printed by Python itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
import yaml

from ..conftest import run_cli
from ..engine.toys import save_pairs
from .helpers import LEVIN, TINY, checksums, error_lines, run_cases, save_image, save_kernel


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentinel tree: inputs, configs, weights, data sets, and victims outside every output."""
    import restorekit

    w = tmp_path_factory.mktemp("fuzz")
    save_image(w / "in" / "a.png", 0)
    save_image(w / "in" / "b.png", 1)
    (w / "mixed").mkdir()
    save_image(w / "mixed" / "good1.png", 2)
    (w / "mixed" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    save_image(w / "mixed" / "good2.png", 3)
    save_image(w / "one.png", 4, size=(1, 1))
    save_image(w / "rgba.png", 5, channels=4)
    nan = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    nan[4, 4] = np.nan
    tifffile.imwrite(w / "nan.tif", nan)
    save_kernel(w / "k3.npy", 3)
    save_kernel(w / "k9.npy", 9)
    (w / "garbage.npy").write_bytes(b"not numpy")
    (w / "garbage.png").write_bytes(b"not png")
    (w / "kernel.txt").write_text("0 1 0")
    np.save(w / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (w / "notes.txt").write_text("a file, not a folder")
    (w / "latin1.yaml").write_bytes("name: caf\xe9\nmodel: {decoder: {type: standard.unet}}\n".encode("latin-1"))
    (w / "dup.yaml").write_text("model:\n  decoder: {type: standard.unet}\n  decoder: {type: standard.unet}\n")
    (w / "list.yaml").write_text("- just\n- a list\n")
    (w / "broken.yaml").write_text("model: {decoder: [unclosed\n")
    pipe = restorekit.load_pipeline(TINY, overrides=["model.decoder.width=4"])
    restorekit.save_weights(pipe, w / "w_width4.safetensors")
    torch.save({"w": torch.ones(1)}, w / "model.pth")
    good = restorekit.save_weights(restorekit.load_pipeline(TINY), w / "good.safetensors")
    raw = bytearray(good.read_bytes())
    raw[-2:] = b"\xff\xff"  # bit-rot: the last float becomes NaN
    (w / "nan_weights.safetensors").write_bytes(bytes(raw))
    (w / "truncated.safetensors").write_bytes(good.read_bytes()[:200])
    huge = restorekit.load_pipeline(TINY)
    with torch.no_grad():
        for p in huge.parameters():
            p.fill_(3e38)
    restorekit.save_weights(huge, w / "overflow.safetensors")
    # data sets and configs for eval / train
    save_image(w / "outside" / "victim.png", 6, size=(16, 16))
    rb = w / "rb"
    save_image(rb / "scene" / "gt" / "1.png", 7, size=(16, 16))
    save_image(rb / "scene" / "blur" / "1.png", 8, size=(16, 16))
    (rb / "RealBlur_J_test_list.txt").write_text("scene/gt/1.png scene/blur/1.png\nscene/gt/1.png ../outside/victim.png\n")
    (rb / "abs_list.txt").write_text(f"scene/gt/1.png {w / 'outside' / 'victim.png'}\n")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"] = {"test": {"type": "realblur", "root": str(rb)}}
    (w / "eval_rb.yaml").write_text(yaml.safe_dump(cfg))
    cfg["data"] = {"test": {"type": "realblur", "root": str(rb), "list_file": "abs_list.txt"}}
    (w / "eval_abs.yaml").write_text(yaml.safe_dump(cfg))
    data = save_pairs(w / "pairs", 8, seed=0)
    train = {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}},
        "losses": [{"type": "standard.l1"}],
        "data": {"train": {"type": "paired", "root": str(data)}, "test": {"type": "paired", "root": str(data)}},
        "train": {"batch_size": 4, "iterations": 2, "log_every": 1},
    }
    (w / "train.yaml").write_text(json.dumps(train))
    (w / "used_run").mkdir()
    (w / "used_run" / "model.safetensors").write_bytes(good.read_bytes())
    (w / "used_run" / "metrics.jsonl").write_text('{"kind": "train", "iteration": 1, "loss": 1.0}\n')
    return w


def _deblur(*args: str, pipeline: Path = TINY) -> list[str]:
    return ["deblur", *args, "--pipeline", str(pipeline), "--device", "cpu", "--no-progress"]


# (id, argv, exit status, words of the error line, output folder (may change), extra case keys)
CASES: list[tuple[str, list[str], int, list[str], str | None, dict[str, Any]]] = [
    ("yaml-not-utf8", ["config", "validate", "latin1.yaml"], 1, ["UTF-8"], None, {}),
    ("yaml-duplicate-key", ["config", "validate", "dup.yaml"], 1, ["duplicate key 'decoder'", "line 3"], None, {}),
    ("yaml-not-a-mapping", ["config", "validate", "list.yaml"], 1, ["mapping"], None, {}),
    ("yaml-syntax", ["config", "validate", "broken.yaml"], 1, ["not valid YAML"], None, {}),
    ("yaml-missing", ["config", "validate", "nope.yaml"], 1, ["does not exist"], None, {}),
    ("iterations-negative", ["config", "validate", str(TINY), "-o", "train.iterations=-1"], 1, ["train.iterations"], None, {}),
    ("batch-zero", ["config", "validate", str(TINY), "-o", "train.batch_size=0"], 1, ["train.batch_size"], None, {}),
    ("protocol-unknown", ["config", "validate", str(TINY), "-o", "eval.protocol=gopr"], 1, ["gopr"], None, {}),
    ("stage-path", ["config", "validate", str(TINY), "-o", "train.stages=[{frozen: [decoder.subdecoders.9]}]"], 1,
     ["subdecoders"], None, {}),
    ("loss-weight-negative", ["config", "validate", str(TINY), "-o", "losses.0.weight=-0.5"], 1, ["losses[0].weight"], None, {}),
    ("model-too-big", ["config", "validate", str(TINY), "-o", "model.decoder.width=100000", "-o", "model.decoder.depth=40"], 1,
     ["GB", "available"], None, {}),
    ("train-used-folder", ["train", "train.yaml", "--out", "used_run", "--device", "cpu", "--no-progress"], 1,
     ["--resume auto", "--overwrite"], None, {}),
    ("train-resume-missing", ["train", "train.yaml", "--out", "run_r", "--resume", "nowhere", "--device", "cpu"], 1,
     ["not a complete checkpoint"], "run_r", {}),
    ("train-disk-full", ["train", "train.yaml", "--out", "run_full", "--device", "cpu", "--no-progress"], 1,
     ["no space left on device"], "run_full", {"fail_writes": "restorekit.engine.checkpoint:_write_synced"}),
    ("deblur-out-is-input", _deblur("in/a.png", "-o", "in/a.png", "--kernel", "k3.npy"), 1, ["input"], None, {}),
    ("deblur-out-is-input-folder", _deblur("in", "-o", "in", "--kernel", "k3.npy"), 1, ["input"], None, {}),
    ("deblur-out-inside-input", _deblur("in", "-o", "in/restored", "--kernel", "k3.npy"), 1, ["input"], None, {}),
    ("deblur-out-existing-file", _deblur("in", "-o", "notes.txt", "--kernel", "k3.npy"), 1, ["is a file"], None, {}),
    ("deblur-out-under-file", _deblur("in", "-o", "notes.txt/x", "--kernel", "k3.npy"), 1, ["is a file"], None, {}),
    ("deblur-missing-input", _deblur("nope.png", "-o", "o1", "--kernel", "k3.npy"), 1, ["does not exist"], "o1", {}),
    ("weights-shape", _deblur("in/a.png", "-o", "o2", "--kernel", "k3.npy", "--weights", "w_width4.safetensors"), 1,
     ["does not fit", "in the file but"], "o2", {}),
    ("weights-pth", _deblur("in/a.png", "-o", "o3", "--kernel", "k3.npy", "--weights", "model.pth"), 1,
     ["restorekit weights convert"], "o3", {}),
    ("weights-nan", _deblur("in/a.png", "-o", "o4", "--kernel", "k3.npy", "--weights", "nan_weights.safetensors"), 1,
     ["NaN"], "o4", {}),
    ("weights-truncated", _deblur("in/a.png", "-o", "o5", "--kernel", "k3.npy", "--weights", "truncated.safetensors"), 1,
     ["truncated"], "o5", {}),
    ("output-overflow", _deblur("in/a.png", "-o", "o6", "--kernel", "k3.npy", "--weights", "overflow.safetensors"), 1,
     ["NaN or Inf"], "o6", {}),
    ("kernel-garbage-npy", _deblur("in/a.png", "-o", "o7", "--kernel", "garbage.npy"), 1, ["garbage.npy"], "o7", {}),
    ("kernel-garbage-png", _deblur("in/a.png", "-o", "o7", "--kernel", "garbage.png"), 1, ["garbage.png"], "o7", {}),
    ("kernel-txt", _deblur("in/a.png", "-o", "o7", "--kernel", "kernel.txt"), 1, ["kernel.txt"], "o7", {}),
    ("kernel-pickle", _deblur("in/a.png", "-o", "o7", "--kernel", "objects.npy"), 1, ["objects.npy"], "o7", {}),
    ("levin-1x1", _deblur("one.png", "-o", "o8", "--kernel", "k9.npy", pipeline=LEVIN), 1, ["smaller than the kernel"], "o8", {}),
    ("tile-below-kernel", _deblur("in/a.png", "-o", "o9", "--kernel", "k9.npy", "--tile", "4", "--overlap", "0"), 1,
     ["--tile"], "o9", {}),
    ("nan-input", _deblur("nan.tif", "-o", "o10", "--kernel", "k3.npy"), 1, ["nan.tif", "--repair-nonfinite"], "o10", {}),
    ("batch-with-bad-file", _deblur("mixed", "-o", "o11", "--kernel", "k3.npy"), 1, ["1 of 3"], "o11", {}),
    ("deblur-disk-full", _deblur("in", "-o", "o12", "--kernel", "k3.npy"), 1, ["no space left on device"], "o12",
     {"fail_writes": "restorekit.inference.imageio:_encode"}),
    ("eval-disk-full", ["eval", "train.yaml", "--device", "cpu", "--save", "saved_full"], 1, ["no space left on device", "kept: 0 of"],
     "saved_full", {"fail_writes": "restorekit.inference.imageio:_encode"}),
    ("eval-save-file", ["eval", "train.yaml", "--device", "cpu", "--save", "notes.txt"], 1, ["--save", "is a file"], None, {}),
    ("eval-list-dotdot", ["eval", "eval_rb.yaml", "--device", "cpu", "--save", "saved", "-o", "model.blur_estimator.path=k3.npy"],
     1, ["RealBlur_J_test_list.txt:2", "outside the dataset root"], "saved", {}),
    ("eval-list-absolute", ["eval", "eval_abs.yaml", "--device", "cpu", "--save", "saved", "-o", "model.blur_estimator.path=k3.npy"],
     1, ["abs_list.txt:1", "outside the dataset root"], "saved", {}),
    ("bad-pad-choice", _deblur("in/a.png", "-o", "o13", "--kernel", "k3.npy", "--pad", "middle"), 2, [], "o13", {}),
    ("device-unknown", ["deblur", "in/a.png", "-o", "o14", "--pipeline", str(TINY), "--kernel", "k3.npy", "--device", "gpu0"], 1,
     ["device"], "o14", {}),
    # not failures: they must work, with a warning where something is dropped
    ("rgba-ok", _deblur("rgba.png", "-o", "o15", "--kernel", "k3.npy"), 0, [], "o15", {}),
    ("plugin-switch-typo", ["plugins"], 0, [], None, {"env": {"RESTOREKIT_DISABLE_PLUGINS": "nrknett"}}),
]

WARNINGS = {"rgba-ok": "alpha", "plugin-switch-typo": "did you mean 'nrknet'"}


def test_fuzz_table(ws: Path) -> None:
    cases = [{"argv": argv, "sentinel": str(ws), "output": str(ws / out) if out else None, **extra}
             for _, argv, _, _, out, extra in CASES]
    failures = []
    for (name, argv, code, words, out, _), res in zip(CASES, run_cases(cases, ws)):
        err = res["stderr"]
        problems = []
        if res["code"] != code:
            problems.append(f"exit {res['code']} != {code}")
        if "Traceback" in err:
            problems.append("traceback")
        lines = error_lines(err)
        if code == 1:
            if len(lines) != 1:
                problems.append(f"{len(lines)} error lines")
            elif not all(w in lines[0] for w in words):
                problems.append(f"missing {[w for w in words if w not in lines[0]]}")
        elif code == 0 and lines:
            problems.append("error line on success")
        if name in WARNINGS and WARNINGS[name] not in err:
            problems.append(f"no warning '{WARNINGS[name]}'")
        if res["changed"]:
            problems.append(f"changed outside its output folder: {res['changed']}")
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}\n    stderr: {err.strip()[-600:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", ["yaml-not-utf8", "deblur-out-under-file", "kernel-garbage-png", "eval-save-file"])
def test_real_subprocess(ws: Path, name: str) -> None:
    spec = next(c for c in CASES if c[0] == name)
    _, argv, code, words, out, _ = spec
    before = checksums(ws, exclude=[ws / out] if out else [])
    proc = run_cli(argv, cwd=ws, env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and all(w in lines[0] for w in words), proc.stderr
    assert checksums(ws, exclude=[ws / out] if out else []) == before
