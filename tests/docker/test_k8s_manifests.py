"""docker/k8s: schema validation (kubernetes-validate, when installed) and hand checks.

The hand checks always run: they tie the objects together (selectors, named ports, probes,
HPA target, ConfigMap keys vs. the server's flags, the model volume vs. ``base_path``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.docker.deploy_files import (
    CONFIG_FILES,
    K8S,
    MODEL_NAME,
    REPO,
    TF_SERVING_FLAGS,
    TFSERVING,
    k8s_objects,
    load_yaml_documents,
    long_flags,
)
from tests.docker.tfs_protos import parse_model_server_config

K8S_VERSION = "1.33.0"  # schema set bundled by kubernetes-validate; any >= 1.23 has HPA v2
KV_MISSING = "kubernetes-validate not installed (pip install kubernetes-validate==1.37.0)"
MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port in named, f"named port {port!r} not declared by the container"
    return named[port]


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return k8s_objects()


@pytest.mark.parametrize("filename", MANIFESTS)
def test_manifest_validates_against_kubernetes_schema(filename: str) -> None:
    kv = pytest.importorskip("kubernetes_validate.utils", reason=KV_MISSING)
    docs = load_yaml_documents(K8S / filename)
    assert docs, f"{filename} holds no object"
    for doc in docs:
        # strict: unknown fields (typos) fail too; raises ValidationError/SchemaNotFoundError
        assert kv.validate(doc, K8S_VERSION, strict=True) == "1.33"


@pytest.mark.parametrize("filename", MANIFESTS)
def test_every_object_has_identity_fields(filename: str) -> None:
    for doc in load_yaml_documents(K8S / filename):
        assert doc.get("apiVersion") and doc.get("kind")
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_expected_kinds_and_api_versions(objects: dict[str, dict[str, Any]]) -> None:
    kinds = {kind: obj["apiVersion"] for kind, obj in objects.items()}
    assert kinds == {"ConfigMap": "v1", "Deployment": "apps/v1", "Service": "v1",
                     "HorizontalPodAutoscaler": "autoscaling/v2",
                     "PersistentVolumeClaim": "v1", "PodDisruptionBudget": "policy/v1",
                     "Pod": "v1", "NetworkPolicy": "networking.k8s.io/v1"}


def test_kustomization_lists_every_serving_manifest() -> None:
    kustomization = load_yaml_documents(K8S / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(
        m for m in MANIFESTS if m != "model-loader.yaml")


def test_selectors_match_pod_labels(objects: dict[str, dict[str, Any]]) -> None:
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     objects["Service"]["spec"]["selector"],
                     objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()


def test_service_ports_match_container_ports(objects: dict[str, dict[str, Any]]) -> None:
    container = _container(objects)
    ports = {p["name"]: p for p in objects["Service"]["spec"]["ports"]}
    assert {name: p["port"] for name, p in ports.items()} == {"grpc": 8500, "http": 8501}
    for port in ports.values():
        assert _port_number(container, port["targetPort"]) == port["port"]
    flags = long_flags(container["args"])
    assert int(flags["port"] or 0) == 8500 and int(flags["rest_api_port"] or 0) == 8501


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_probes_hit_model_status_on_rest_port(objects: dict[str, dict[str, Any]],
                                              probe: str) -> None:
    container = _container(objects)
    get = container[probe]["httpGet"]
    assert _port_number(container, get["port"]) == 8501
    assert get["path"] == f"/v1/models/{MODEL_NAME}"


def test_rolling_update_never_drops_capacity(objects: dict[str, dict[str, Any]]) -> None:
    strategy = objects["Deployment"]["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


def test_resources_and_hpa_target(objects: dict[str, dict[str, Any]]) -> None:
    resources = _container(objects)["resources"]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[section].keys()
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    deployment = objects["Deployment"]
    assert hpa["scaleTargetRef"] == {"apiVersion": deployment["apiVersion"],
                                     "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert "replicas" not in deployment["spec"], "the HPA owns replicas"


def test_configmap_holds_the_docker_config_files(objects: dict[str, dict[str, Any]]) -> None:
    data = objects["ConfigMap"]["data"]
    assert sorted(data) == sorted(CONFIG_FILES)
    for name in CONFIG_FILES:
        assert data[name] == (TFSERVING / name).read_text(), f"{name} drifted from docker/"
    for entry in parse_model_server_config(data["models.config"]).model_config_list.config:
        assert entry.base_path.startswith("/")


def test_server_flags_point_at_mounted_files(objects: dict[str, dict[str, Any]]) -> None:
    container = _container(objects)
    assert container["command"] == ["tensorflow_model_server"]
    flags = long_flags(container["args"])
    assert set(flags) <= TF_SERVING_FLAGS, set(flags) - TF_SERVING_FLAGS
    assert flags["enable_batching"] == "true" and flags["enable_model_warmup"] == "true"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in objects["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    keys = objects["ConfigMap"]["data"].keys()
    for flag in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        directory, _, key = (flags[flag] or "").rpartition("/")
        assert directory == mounts["config"] and key in keys, f"--{flag}={flags[flag]}"
    tls_dir, _, tls_key = (flags["ssl_config_file"] or "").rpartition("/")
    assert tls_dir == mounts["tls"], f"--ssl_config_file={flags['ssl_config_file']}"
    (generated,) = load_yaml_documents(K8S / "kustomization.yaml")[0]["secretGenerator"]
    assert volumes["tls"]["secret"]["secretName"] == generated["name"]
    assert generated["options"]["disableNameSuffixHash"] is True
    assert [f.split("=", 1)[0] for f in generated["files"]] == [tls_key]
    assert volumes["tls"]["secret"]["defaultMode"] & 0o007 == 0, "key readable by others"
    claim = volumes["models"]["persistentVolumeClaim"]["claimName"]
    assert claim == objects["PersistentVolumeClaim"]["metadata"]["name"]
    config = parse_model_server_config(objects["ConfigMap"]["data"]["models.config"])
    for entry in config.model_config_list.config:
        assert entry.base_path.startswith(mounts["models"].rstrip("/") + "/")


def test_network_policy_admits_only_the_gateway(objects: dict[str, dict[str, Any]]) -> None:
    policy = objects["NetworkPolicy"]["spec"]
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "gateway"}}}]
    container = _container(objects)
    assert sorted(_port_number(container, p["port"]) for p in rule["ports"]) == [8500, 8501]


def test_ssl_config_secret_file_is_never_committed() -> None:
    (generated,) = load_yaml_documents(K8S / "kustomization.yaml")[0]["secretGenerator"]
    source = K8S / generated["files"][0].split("=", 1)[1]
    ignore = (source.parent / ".gitignore").read_text().split()
    assert "*" in ignore and "!.gitignore" in ignore


def test_image_tag_matches_pinned_tensorflow(objects: dict[str, dict[str, Any]]) -> None:
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().split()
                if "==" in line)
    assert _container(objects)["image"] == f"tensorflow/serving:{pins['tensorflow']}"


def test_model_loader_writes_the_served_volume(objects: dict[str, dict[str, Any]]) -> None:
    pod = objects["Pod"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims == {objects["PersistentVolumeClaim"]["metadata"]["name"]}
    assert "ReadWriteMany" in objects["PersistentVolumeClaim"]["spec"]["accessModes"]
    (mount,) = pod["containers"][0]["volumeMounts"]
    assert mount["mountPath"] == "/models" and not mount.get("readOnly", False)


def test_schema_validation_catches_a_misspelt_field(objects: dict[str, dict[str, Any]]) -> None:
    kv = pytest.importorskip("kubernetes_validate.utils", reason=KV_MISSING)
    broken = yaml_copy(objects["Deployment"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kv.ValidationError, match="readinesProbe"):
        kv.validate(broken, K8S_VERSION, strict=True)


def yaml_copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a manifest object."""
    return copy.deepcopy(obj)
