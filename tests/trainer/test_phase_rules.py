"""Pure rules behind the transfer-learning flags: ``--unfreeze-from`` indices, the two-phase
config constraints, ``--resume --epochs`` on two-phase runs, ``--strategy`` choices, and the
phase-2 marker in the history plots."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from trainer.atomic import write_text
from trainer.config import dump_config, make_config
from trainer.errors import TrainerError
from trainer.fit import resume_config
from trainer.freeze import unfreeze_index
from trainer.plots import plot_curves
from trainer.runtime import choose_strategy

LAYERS = [SimpleNamespace(name=n) for n in ("conv1", "bn1", "conv2", "bn2")]


def test_unfreeze_index() -> None:
    assert unfreeze_index(LAYERS, "0") == 0  # the whole backbone trains
    assert unfreeze_index(LAYERS, "3") == 3
    assert unfreeze_index(LAYERS, "conv2") == 2  # conv2 itself trains
    with pytest.raises(TrainerError, match="exceeds the backbone's 4 layers"):
        unfreeze_index(LAYERS, "5")
    with pytest.raises(TrainerError, match="'conv9': no such backbone layer.*conv1, bn1"):
        unfreeze_index(LAYERS, "conv9")


def test_two_phase_config_freezes_phase_1() -> None:
    config = make_config(data="d", out="o", epochs=10, fine_tune_epochs=2)
    assert config.freeze == "all" and config.total_epochs == 12
    assert make_config(data="d", out="o", fine_tune_epochs=2, freeze="all").freeze == "all"
    with pytest.raises(TrainerError, match="--freeze 3 conflicts with --fine-tune-epochs"):
        make_config(data="d", out="o", fine_tune_epochs=2, freeze="3")
    with pytest.raises(TrainerError, match="--fine-tune-lr: must be > 0"):
        make_config(data="d", out="o", fine_tune_lr=0)
    with pytest.raises(TrainerError, match="--upsample: must be >= 1"):
        make_config(data="d", out="o", upsample=0)
    with pytest.raises(TrainerError, match="--input-noise: must be >= 0"):
        make_config(data="d", out="o", input_noise=-1)


def test_resume_keeps_two_phase_lengths(tmp_path: Path) -> None:
    write_text(tmp_path / "config.yaml", dump_config(make_config(
        data="d", out=str(tmp_path), epochs=2, fine_tune_epochs=3)))
    assert resume_config(tmp_path, 2).epochs == 2
    with pytest.raises(TrainerError, match="a two-phase run keeps its phase lengths"):
        resume_config(tmp_path, 4)


def test_choose_strategy() -> None:
    assert choose_strategy(0) == "default" and choose_strategy(2) == "mirrored"
    assert choose_strategy(0, "mirrored") == "mirrored"
    assert choose_strategy(4, "multi-worker") == "multi-worker"
    with pytest.raises(TrainerError, match="accepted: auto, default, mirrored, multi-worker"):
        choose_strategy(0, "tpu")


def test_history_plot_marks_phase_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.axes

    marks: list[float] = []
    original = matplotlib.axes.Axes.axvline

    def spy(self: object, x: float = 0, *args: object, **kwargs: object) -> object:
        marks.append(x)
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "axvline", spy)
    rows = [{"epoch": e, "accuracy": 0.5, "val_accuracy": 0.4, "phase": 1 if e < 3 else 2}
            for e in (1, 2, 3, 4)]
    plot_curves(rows, "accuracy", tmp_path / "a.png")
    assert marks == [2.5] and (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    marks.clear()
    plot_curves([{**r, "phase": 1} for r in rows], "accuracy", tmp_path / "b.png")
    assert marks == []
