"""The TF Serving config files in docker/tfserving parse as the protos TF Serving reads.

Each file is parsed with strict text format (an unknown field fails, as in
``tensorflow_model_server``) and then checked for what TF Serving validates at start-up:
absolute base paths, unique names, labels on served versions, batch-size rules.
"""

from __future__ import annotations

import re

import pytest

from tests.docker.deploy_files import MODEL_NAME, TFSERVING
from tests.docker.tfs_protos import (
    parse_batching_parameters,
    parse_model_server_config,
    parse_monitoring_config,
)

MODEL_CONFIGS = ("models.config", "models.canary.config")


@pytest.mark.parametrize("filename", MODEL_CONFIGS)
def test_model_config_parses_with_absolute_base_paths(filename: str) -> None:
    config = parse_model_server_config((TFSERVING / filename).read_text())
    assert config.WhichOneof("config") == "model_config_list"
    entries = list(config.model_config_list.config)
    assert [e.name for e in entries] == [MODEL_NAME]
    for entry in entries:
        assert entry.base_path == f"/models/{entry.name}"  # absolute: TF Serving requires it
        assert entry.model_platform == "tensorflow"
        assert entry.model_version_policy.WhichOneof("policy_choice") in {"latest", "specific"}


def test_default_config_serves_the_latest_version() -> None:
    entry = parse_model_server_config((TFSERVING / "models.config").read_text())
    policy = entry.model_config_list.config[0].model_version_policy
    assert policy.WhichOneof("policy_choice") == "latest"
    assert policy.latest.num_versions == 1
    assert not entry.model_config_list.config[0].version_labels


def test_canary_labels_point_at_served_versions() -> None:
    entry = parse_model_server_config(
        (TFSERVING / "models.canary.config").read_text()).model_config_list.config[0]
    served = set(entry.model_version_policy.specific.versions)
    labels = dict(entry.version_labels)
    assert labels == {"stable": 1, "canary": 2}
    assert set(labels.values()) <= served  # a label on an unserved version never resolves
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", label) for label in labels)


def test_batching_parameters_follow_tf_serving_rules() -> None:
    params = parse_batching_parameters((TFSERVING / "batching_parameters.txt").read_text())
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                 "num_batch_threads"):
        assert params.HasField(name), f"{name} not set"
    assert params.max_batch_size.value >= 1
    assert params.num_batch_threads.value >= 1
    assert params.max_enqueued_batches.value >= 1
    assert 0 <= params.batch_timeout_micros.value <= 100_000  # a timeout, not a pause
    sizes = list(params.allowed_batch_sizes)
    assert sizes, "allowed_batch_sizes example missing"
    assert sizes == sorted(set(sizes)), "allowed_batch_sizes must be strictly increasing"
    assert sizes[-1] == params.max_batch_size.value, "last allowed size must equal max_batch_size"


def test_monitoring_config_enables_prometheus_outside_v1() -> None:
    config = parse_monitoring_config((TFSERVING / "monitoring.config").read_text())
    assert config.prometheus_config.enable is True
    path = config.prometheus_config.path
    assert path == "/monitoring/prometheus/metrics"  # TF Serving's default kPrometheusPath
    assert not path.lower().startswith("/v1/")  # /v1/... is routed to the REST API handler


@pytest.mark.parametrize("text, parser", [
    ("max_batch_sise { value: 3 }", parse_batching_parameters),
    ("prometheus_config { enabled: true }", parse_monitoring_config),
    ("model_config_list { config { nam: 'x' } }", parse_model_server_config),
])
def test_parsers_reject_misspelt_fields(text: str, parser: object) -> None:
    from google.protobuf import text_format

    with pytest.raises(text_format.ParseError):
        parser(text)  # type: ignore[operator]


@pytest.mark.parametrize("filename", MODEL_CONFIGS)
def test_our_server_reads_the_same_model_config(filename: str) -> None:
    from serving.model_config import parse_model_config_file as parse

    proto = parse_model_server_config((TFSERVING / filename).read_text()).model_config_list
    ours = parse(TFSERVING / filename)
    assert [c.name for c in ours] == [e.name for e in proto.config]
    for config, entry in zip(ours, proto.config, strict=True):
        assert config.base_path.as_posix() == entry.base_path
        assert config.platform == entry.model_platform
        assert config.version_labels == dict(entry.version_labels)
