"""models.config parsing (TF Serving's text-format ModelServerConfig) and version discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.errors import InvalidArgument
from serving.model_config import (
    ModelConfig,
    VersionPolicy,
    model_configs_from_proto,
    parse_model_config_file,
    parse_model_config_text,
    single_model_config,
)
from serving.versions import aspired_versions, fingerprint, parse_version, scan_versions

CONFIG = """
model_config_list {
  config {
    name: "half_plus_two"
    base_path: "/models/half_plus_two"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 124 versions: 123 } }
    version_labels { key: "stable" value: 123 }
    version_labels { key: "canary" value: 124 }
  }
  config { name: "cls" base_path: "models/cls" model_platform: "onnx"
           model_version_policy { latest { num_versions: 2 } } }
  config { name: "all" base_path: "/m/all" model_platform: "tflite"
           model_version_policy { all {} } }
  config { name: "plain" base_path: "/m/plain" }
}
"""


def test_parse_full_config(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    hp2, cls, all_, plain = parse_model_config_file(path)
    assert hp2 == ModelConfig(
        name="half_plus_two",
        base_path=Path("/models/half_plus_two"),
        platform="tensorflow",
        version_policy=VersionPolicy.specific([123, 124]),
        version_labels={"stable": 123, "canary": 124},
    )
    assert cls.platform == "onnx" and cls.version_policy == VersionPolicy.latest(2)
    assert cls.base_path == tmp_path.resolve() / "models" / "cls"  # relative to the file
    assert all_.version_policy.kind == "all" and all_.platform == "tflite"
    assert plain.platform == "tensorflow" and plain.version_policy == VersionPolicy.latest(1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' base_path: '/x' } ", "Error parsing text-format"),
        ("bogus_field: 1", "Error parsing text-format tensorflow.serving.ModelServerConfig"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' } "
            "config { name: 'a' base_path: '/y' } }",
            "Illegal to list model a multiple times in config list",
        ),
        ("model_config_list { config { name: '../etc' base_path: '/x' } }", "invalid model name"),
        ("model_config_list { config { name: 'a/b' base_path: '/x' } }", "invalid model name"),
        ("model_config_list { config { name: 'a\\\\b' base_path: '/x' } }", "invalid model name"),
        ("model_config_list { config { name: '' base_path: '/x' } }", "model name is empty"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'torch' } }",
            "accepted: tensorflow, onnx, tflite",
        ),
        ("model_config_list { config { name: 'a' base_path: 'gs://b/a' } }", "is a URI"),
        ("model_config_list { config { name: 'a' } }", "base_path is empty"),
    ],
)
def test_bad_configs_are_one_line_errors(text, message):
    with pytest.raises(InvalidArgument) as err:
        parse_model_config_text(text, Path("/cfg"))
    assert message in err.value.message and "\n" not in err.value.message


def test_relative_base_path_without_a_file_is_rejected_like_tf_serving():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    text_format.Parse("model_config_list { config { name: 'a' base_path: 'rel' } }", proto)
    with pytest.raises(InvalidArgument) as err:
        model_configs_from_proto(proto.model_config_list)
    assert err.value.message == (
        "Expected model a to have an absolute path or URI; got base_path()=rel"
    )


def test_missing_config_file_is_clear(tmp_path):
    with pytest.raises(InvalidArgument, match="cannot read model config file"):
        parse_model_config_file(tmp_path / "missing.config")


def test_single_model_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = single_model_config("m", "models/m", "onnx")
    assert config.base_path == tmp_path.resolve() / "models" / "m"
    assert config.platform == "onnx" and config.version_policy == VersionPolicy()
    with pytest.raises(InvalidArgument):
        single_model_config("m", "/x", "caffe")


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("123", 123),
        ("00000123", 123),
        ("0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("1a", None),
        ("-1", None),
        ("", None),
        ("١٢", None),
    ],
)
def test_parse_version(name, version):
    assert parse_version(name) == version


def test_scan_versions_ignores_non_numeric_and_files(tmp_path):
    for name in ("1", "0002", "tmp", "3.partial", "002"):
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a version")
    found = scan_versions(tmp_path)
    assert sorted(found) == [1, 2]
    assert found[2].name == "0002"  # duplicates: the lexically smallest name wins
    with pytest.raises(OSError):
        scan_versions(tmp_path / "missing")


def test_policies():
    disk = {1, 2, 5, 9}
    assert aspired_versions(disk, VersionPolicy()) == {9}
    assert aspired_versions(disk, VersionPolicy.latest(2)) == {5, 9}
    assert aspired_versions(disk, VersionPolicy.latest(0)) == {9}
    assert aspired_versions(disk, VersionPolicy.all()) == disk
    assert aspired_versions(disk, VersionPolicy.specific([2, 3])) == {2}
    assert aspired_versions(disk, VersionPolicy.specific([])) == set()
    assert aspired_versions(set(), VersionPolicy()) == set()


def test_fingerprint_changes_when_contents_change(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"half")
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before
    (tmp_path / "variables" / "variables.index").write_bytes(b"more")
    assert fingerprint(tmp_path) != before
