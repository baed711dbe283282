"""docker/compose.yaml: both servers side by side on one model directory.

No Docker engine here, so ``docker compose config`` cannot run: the file is parsed with
PyYAML and checked by hand (services, published ports, the shared read-only model volume,
healthchecks on the model status endpoint, build contexts that exist).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.docker.deploy_files import DOCKER, MODEL_NAME, REPO, TFSERVING, load_yaml_documents
from tests.docker.tfs_protos import parse_model_server_config

_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
# Published port -> container port, per service.
EXPECTED_PORTS = {"tfserving": {8500: 8500, 8501: 8501}, "server": {8510: 8500, 8511: 8501}}


def with_defaults(value: str) -> str:
    """Resolve ``${VAR:-default}`` the way compose does when ``VAR`` is unset."""
    return _DEFAULT.sub(lambda m: m.group(2), value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (doc,) = load_yaml_documents(DOCKER / "compose.yaml")
    return doc


def _published(service: dict[str, Any]) -> dict[int, int]:
    ports: dict[int, int] = {}
    for spec in service["ports"]:
        host_ip, host, container = str(spec).split(":")
        assert host_ip == "127.0.0.1", f"{spec}: publish on loopback only"
        ports[int(host)] = int(container)
    return ports


def test_services_and_published_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == set(EXPECTED_PORTS)
    for name, expected in EXPECTED_PORTS.items():
        assert _published(services[name]) == expected


def test_both_services_mount_the_same_model_directory(compose: dict[str, Any]) -> None:
    volumes = [compose["services"][name]["volumes"] for name in EXPECTED_PORTS]
    assert volumes[0] == volumes[1]
    (volume,) = volumes[0]
    assert volume["type"] == "bind" and volume["read_only"] is True
    assert volume["target"] == f"/models/{MODEL_NAME}"
    source = (DOCKER / with_defaults(volume["source"])).resolve()
    assert source == REPO / "models" / MODEL_NAME  # the exporter's models/NAME/ by default
    config = parse_model_server_config((TFSERVING / "models.config").read_text())
    assert [e.base_path for e in config.model_config_list.config] == [volume["target"]]


@pytest.mark.parametrize("name", sorted(EXPECTED_PORTS))
def test_healthcheck_polls_model_status_inside_the_container(compose: dict[str, Any],
                                                             name: str) -> None:
    check = compose["services"][name]["healthcheck"]
    assert check["test"][0] == "CMD"
    command = " ".join(check["test"][1:])
    assert f"http://127.0.0.1:8501/v1/models/{MODEL_NAME}" in command
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check


def test_build_contexts_exist(compose: dict[str, Any]) -> None:
    for name in EXPECTED_PORTS:
        build = compose["services"][name]["build"]
        context = (DOCKER / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
    tag = with_defaults(compose["services"]["tfserving"]["build"]["args"]["TF_SERVING_TAG"])
    assert with_defaults(compose["services"]["tfserving"]["image"]).endswith(":" + tag)


def test_both_services_get_the_same_cpu_budget(compose: dict[str, Any]) -> None:
    cpus = {with_defaults(str(compose["services"][name]["cpus"])) for name in EXPECTED_PORTS}
    assert len(cpus) == 1 and float(cpus.pop()) > 0


def test_compose_file_validates_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    pytest.importorskip("check_jsonschema",
                        reason="check-jsonschema not installed (it vendors the compose-spec "
                               "schema): pip install check-jsonschema==0.39.0")
    import json
    from importlib import resources

    import jsonschema

    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {**compose["services"], "server": {
        **compose["services"]["server"], "healthchek": {}}}}
    assert any("healthchek" in e.message for e in validator.iter_errors(broken))
