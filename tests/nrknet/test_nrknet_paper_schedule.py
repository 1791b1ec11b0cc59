"""pipelines/nrknet_paper.yaml trains as the paper states (Sec. 4.1): lr 1e-4 for 2000 epochs,
then ×0.5 at epochs 2000 and 3000 (two halvings) over 4000 epochs; Xavier initialisation."""

from __future__ import annotations

import math

import pytest
import torch

from restorekit import load_pipeline, resolve_config
from restorekit.engine.data_stream import BatchStream
from restorekit.engine.distributed import DistInfo
from restorekit.engine.optim import schedule_lr
from restorekit.engine.settings import TrainSettings

from ..conftest import ROOT

PAPER = ROOT / "pipelines" / "nrknet_paper.yaml"
DPDD_TRAIN_PAIRS = 350  # DPDD train_c (Abuolaim & Brown, ECCV 2020): 350 training pairs


def _steps_per_epoch(batch_size: int) -> int:
    """The engine's own epoch length (its data stream), not a formula copied from the YAML."""
    stream = BatchStream(list(range(DPDD_TRAIN_PAIRS)), batch_size, DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")), seed=0)
    return stream.batches_per_epoch


def test_paper_schedule_halves_twice_at_epochs_2000_and_3000() -> None:
    cfg = resolve_config(PAPER)
    settings = TrainSettings.from_config(cfg["train"])
    stages = settings.effective_stages()
    assert len(stages) == 1
    spe = _steps_per_epoch(settings.batch_size)
    total = stages[0].iterations
    assert total == 4000 * spe  # 4000 epochs

    def lr_at_epoch(epoch: float) -> float:
        return schedule_lr(int(epoch * spe), total, settings.lr, settings)

    assert lr_at_epoch(0) == pytest.approx(1e-4)
    assert lr_at_epoch(1999.99) == pytest.approx(1e-4)
    assert lr_at_epoch(2000) == pytest.approx(5e-5)
    assert lr_at_epoch(2999.99) == pytest.approx(5e-5)
    assert lr_at_epoch(3000) == pytest.approx(2.5e-5)
    assert lr_at_epoch(3999.99) == pytest.approx(2.5e-5)
    distinct = {round(schedule_lr(t, total, settings.lr, settings), 12) for t in range(0, total, spe)}
    assert len(distinct) == 3  # two halvings, not three


def test_paper_form_uses_xavier_and_reference_form_pytorch_default() -> None:
    small = ["model.blur_estimator.widths=[4,8,8]"]
    paper = load_pipeline(PAPER, overrides=small).blur_estimators[0]
    reference = load_pipeline(ROOT / "pipelines" / "nrknet.yaml", overrides=small).blur_estimators[0]
    assert paper.init == "xavier" and reference.init == "default"
    conv = paper.feat_extract[1].main[0]  # a Conv2d 4 → 8, 3×3
    fan_in, fan_out = conv.weight.shape[1] * 9, conv.weight.shape[0] * 9
    bound = math.sqrt(6.0 / (fan_in + fan_out))  # xavier_uniform_ bound, gain 1
    assert float(conv.weight.detach().abs().max()) <= bound + 1e-7
    assert float(conv.weight.detach().abs().max()) > 0.8 * bound  # uniform over the full range, not PyTorch's
    biases = [m.bias for m in paper.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.bias is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    ref_conv = reference.feat_extract[1].main[0]
    kaiming_bound = 1.0 / math.sqrt(fan_in)  # PyTorch default: kaiming_uniform(a=√5) → 1/√fan_in
    assert float(ref_conv.weight.detach().abs().max()) <= kaiming_bound + 1e-7 < bound
