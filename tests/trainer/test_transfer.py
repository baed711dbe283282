"""``trainer.transfer.init_from_run``: backbone transfer between runs on tiny models built with
the trainer's own model factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.errors import TrainerError
from trainer.model import build_classifier
from trainer.transfer import init_from_run


def _fake_run(root: Path, model: Any) -> Path:
    """A run directory as far as --init-from reads it: config.yaml + model.keras."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text("backbone: test\n")
    model.save(root / "model.keras")
    return root


def _weights_of(model: Any, name: str) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer(name).get_weights()]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    import keras

    keras.utils.set_random_seed(1)
    source = build_classifier("small_cnn", 4, 32)
    return _fake_run(tmp_path_factory.mktemp("runs") / "src", source), source


def test_backbone_loaded_head_kept_with_other_class_count(small_run: tuple[Path, Any]) -> None:
    import keras

    run, source = small_run
    keras.utils.set_random_seed(2)
    target = build_classifier("small_cnn", 3, 32)
    fresh_head = _weights_of(target, "head_output")
    report = init_from_run(target, run)
    for a, b in zip(_weights_of(target, "backbone"), _weights_of(source, "backbone"),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_weights_of(target, "head_output"), fresh_head, strict=True):
        np.testing.assert_array_equal(a, b)  # head untouched: 3 classes, fresh init
    assert report.head_layers_skipped == ("head_output",)
    assert report.weights_loaded == 4  # conv1 kernel+bias, fc1 kernel+bias
    # the features (everything before the head) are now identical to the source's
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    feats = [keras.Model(m.input, m.get_layer("head_output").input)(x) for m in (target, source)]
    np.testing.assert_allclose(np.asarray(feats[0]), np.asarray(feats[1]), atol=1e-6)


def test_combines_with_freeze(small_run: tuple[Path, Any]) -> None:
    from trainer.freeze import apply_freeze

    run, source = small_run
    target = build_classifier("small_cnn", 5, 32)
    init_from_run(target, run)
    report = apply_freeze(target, "1", "train")
    conv1 = target.get_layer("backbone").get_layer("conv1")
    assert not conv1.trainable and target.get_layer("backbone").get_layer("fc1").trainable
    assert report.frozen_layers == 1
    np.testing.assert_array_equal(conv1.get_weights()[0],
                                  source.get_layer("backbone").get_layer("conv1").get_weights()[0])


def test_mobilenet_backbone_transfers_batchnorm_statistics(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(3)
    source = build_classifier("mobilenet", 10, 32, alpha=0.25)
    bn = source.get_layer("backbone").get_layer("conv1_bn")
    bn.moving_mean.assign(np.full(bn.moving_mean.shape, 0.5, dtype="float32"))
    run = _fake_run(tmp_path / "src", source)
    target = build_classifier("mobilenet", 2, 32, alpha=0.25)
    report = init_from_run(target, run)
    mean = target.get_layer("backbone").get_layer("conv1_bn").moving_mean
    np.testing.assert_array_equal(np.asarray(mean), 0.5)
    assert report.layers_loaded > 50


def test_other_architecture_names_first_mismatching_layer(small_run: tuple[Path, Any]) -> None:
    run, _ = small_run
    target = build_classifier("mini_vgg", 4, 32)
    with pytest.raises(TrainerError, match=r"^--init-from: incompatible backbone: layer "
                                           r"'backbone/block1_conv1' does not exist"):
        init_from_run(target, run)


def test_other_image_size_names_layer_and_shapes(small_run: tuple[Path, Any]) -> None:
    run, _ = small_run
    target = build_classifier("small_cnn", 4, 40)  # fc1 sees a larger flattened map
    with pytest.raises(TrainerError, match=r"at layer 'backbone/fc1': weights .* here, .* in the "
                                           r"source") as info:
        init_from_run(target, run)
    assert "\n" not in str(info.value)


def test_nothing_copied_on_mismatch(small_run: tuple[Path, Any]) -> None:
    run, _ = small_run
    target = build_classifier("small_cnn", 4, 40)
    before = _weights_of(target, "backbone")
    with pytest.raises(TrainerError):
        init_from_run(target, run)
    for a, b in zip(_weights_of(target, "backbone"), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_not_a_run_dir(tmp_path: Path) -> None:
    target = build_classifier("small_cnn", 4, 32)
    with pytest.raises(TrainerError, match="not a run directory"):
        init_from_run(target, tmp_path)
    with pytest.raises(TrainerError, match="not a directory"):
        init_from_run(target, tmp_path / "missing")
    (tmp_path / "config.yaml").write_text("backbone: x\n")
    with pytest.raises(TrainerError, match="has no model.keras"):
        init_from_run(target, tmp_path)
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(TrainerError, match="cannot load model.keras"):
        init_from_run(target, tmp_path)
