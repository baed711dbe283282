"""``trainer.compare``: tables and the overlay plot from run directories written with the
trainer's own writers (config.yaml, history.csv, metrics.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainer.atomic import write_json, write_text
from trainer.compare import compare_runs, format_table, plot_comparison, summarize_run
from trainer.config import dump_config, make_config
from trainer.errors import TrainerError
from trainer.run_dir import RunPaths, write_history


def _history(accs: list[float], phases: list[int] | None = None) -> list[dict[str, Any]]:
    rows = []
    for i, acc in enumerate(accs):
        row: dict[str, Any] = {"epoch": i + 1, "loss": 1.0 - acc / 2, "accuracy": acc,
                               "val_loss": 1.1 - acc / 2, "val_accuracy": acc, "lr": 0.001,
                               "train_time_s": 1.5, "epoch_time_s": 2.0}
        if phases is not None:
            row["phase"] = phases[i]
        rows.append(row)
    return rows


def _make_run(root: Path, accs: list[float], *, metrics: bool = True,
              phases: list[int] | None = None, **config: Any) -> Path:
    values = dict(data="data.npz", out=str(root), backbone="small_cnn", weights="none",
                  image_size=32, epochs=len(accs))
    values.update(config)
    paths = RunPaths(root)
    root.mkdir(parents=True)
    write_text(paths.config, dump_config(make_config(**values)))
    write_history(paths, _history(accs, phases))
    if metrics:
        write_json(paths.metrics, {"best_val_accuracy": max(accs), "best_epoch": 1,
                                   "epochs_run": len(accs), "train_time_s": 12.345,
                                   "final_val_accuracy": accs[-1]})
    return root


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    scratch = _make_run(tmp_path / "scratch", [0.3, 0.4, 0.45])
    tuned = _make_run(tmp_path / "tuned", [0.5, 0.6, 0.7, 0.8], backbone="mobilenet",
                      weights="weights/mobilenet_2_5_224_tf_no_top.h5", alpha=0.25,
                      image_size=128, freeze="all", phases=[1, 1, 2, 2])
    return [scratch, tuned]


def test_table_has_each_runs_settings_and_results(runs: list[Path]) -> None:
    table = compare_runs(runs)
    assert table.rows() == [
        {"run": "scratch", "backbone": "small_cnn", "weights": "none", "image_size": 32,
         "frozen": "none", "epochs": 3, "time_s": 12.345, "best_val_accuracy": 0.45},
        {"run": "tuned", "backbone": "mobilenet",
         "weights": "mobilenet_2_5_224_tf_no_top.h5 (alpha 0.25)", "image_size": 128,
         "frozen": "all", "epochs": 4, "time_s": 12.345, "best_val_accuracy": 0.8},
    ]
    assert table.runs[1].curve == [(1, 0.5), (2, 0.6), (3, 0.7), (4, 0.8)]
    assert table.runs[1].phase2_epoch == 3 and table.runs[0].phase2_epoch is None
    text = format_table(table).splitlines()
    assert text[0].split() == ["run", "backbone", "weights", "image_size", "frozen", "epochs",
                               "time_s", "best_val_accuracy"]
    assert text[1].split() == ["scratch", "small_cnn", "none", "32", "none", "3", "12.3",
                               "0.4500"]
    assert "mobilenet_2_5_224_tf_no_top.h5 (alpha 0.25)" in text[2]


def test_unfinished_run_is_summarised_from_history(tmp_path: Path) -> None:
    run = _make_run(tmp_path / "live", [0.2, 0.5, 0.4], metrics=False)
    summary = summarize_run(run)
    assert not summary.finished
    assert summary.best_val_accuracy == 0.5 and summary.epochs == 3 and summary.time_s == 6.0
    assert format_table(compare_runs([run])).splitlines()[1].startswith("live*")


def test_same_names_are_told_apart(tmp_path: Path) -> None:
    a = _make_run(tmp_path / "a" / "run", [0.1])
    b = _make_run(tmp_path / "b" / "run", [0.2])
    assert [r["run"] for r in compare_runs([a, b]).rows()] == ["a/run", "b/run"]


def test_plot_is_a_png_written_atomically(runs: list[Path], tmp_path: Path) -> None:
    out = plot_comparison(compare_runs(runs), tmp_path / "plots" / "compare.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert sorted(p.name for p in out.parent.iterdir()) == ["compare.png"]


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "not a directory"),
    ("empty", r"not a run directory \(no config.yaml\)"),
    ("no_history", "no history.csv"),
    ("bad_yaml", "config.yaml is not a trainer config"),
    ("bad_metrics", "cannot read metrics.json"),
])
def test_a_dir_that_is_not_a_run_is_a_one_line_error(tmp_path: Path, setup: str,
                                                     message: str) -> None:
    root = tmp_path / "x"
    if setup != "missing":
        root.mkdir()
    if setup in ("no_history", "bad_yaml", "bad_metrics"):
        (root / "config.yaml").write_text("backbone: small_cnn\n" if setup != "bad_yaml"
                                          else "just text\n")
    if setup in ("bad_yaml", "bad_metrics"):
        write_history(RunPaths(root), _history([0.5]))
    if setup == "bad_metrics":
        (root / "metrics.json").write_text("{truncated")
    with pytest.raises(TrainerError, match=message) as info:
        compare_runs([root])
    assert "\n" not in str(info.value)


def test_no_runs_is_an_error() -> None:
    with pytest.raises(TrainerError, match="at least one run"):
        compare_runs([])
