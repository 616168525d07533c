"""The Helm chart with every values file in ci/: lint, validate each object against the
Kubernetes schemas (kubernetes-validate, strict), and check the promises of the chart: no
replicas beside an autoscaler, the partition cap, secure pods, probes, no secret in a value, the
defaults; and the chart's copies of files equal to the repository's originals.
Optional parts: test_helm_options.py; values the chart refuses: test_helm_values.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from consumer.config.settings import Settings
from tests.deploy.conftest import CHART, CI_VALUES, KUBE_VERSIONS, NAMESPACE, ROOT, Render
from tests.deploy.helm_objects import (
    CUSTOM_KINDS,
    FULLNAME,
    LABELS,
    SELECTOR,
    SERVE,
    VALUE_SETS,
    container,
    env_of,
    selector_of,
    settings,
    values_of,
)


def test_ci_values_files_cover_the_main_variants() -> None:
    assert {"keda-values", "hpa-values", "tls-values", "sasl-values", "serve-values"} <= {
        path.stem for path in CI_VALUES
    }


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint(helm: Callable[..., Any], values: tuple[Path, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["--values", str(path)]
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS)
def test_rendered_objects_match_kubernetes_schemas(
    render: Callable[..., Render], values: tuple[Path, ...], kube_version: str
) -> None:
    objects = render(values, kube_version=kube_version).objects
    assert objects
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue  # no schema in kubernetes-validate: test_custom_resources checks them
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_object_is_known_labelled_and_namespaced(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    known = CUSTOM_KINDS | {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    }
    for obj in render(values).objects:
        assert obj["kind"] in known, f"unexpected kind {obj['kind']}"
        assert obj["kind"] != "Secret", "the chart never holds secret material"
        metadata = obj["metadata"]
        assert metadata["namespace"] == NAMESPACE
        assert metadata["name"].startswith(FULLNAME)
        assert set(metadata["labels"]) >= LABELS, f"{obj['kind']}: {metadata['labels']}"
        for key, value in selector_of(metadata["labels"]).items():
            assert metadata["labels"][key] == value


@pytest.mark.parametrize("values", VALUE_SETS)
def test_selectors_use_only_name_and_instance(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    deployment = rendered.worker()
    assert deployment["spec"]["selector"] == {"matchLabels": SELECTOR}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert SELECTOR.items() <= pod_labels.items()
    for service in rendered.of_kind("Service"):
        assert service["spec"]["selector"] == selector_of(service["metadata"]["labels"])
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        assert pdb["spec"]["selector"] == {"matchLabels": selector_of(pdb["metadata"]["labels"])}
        assert pdb["apiVersion"] == "policy/v1"
    for policy in rendered.of_kind("NetworkPolicy"):
        assert policy["spec"]["podSelector"] == {
            "matchLabels": selector_of(policy["metadata"]["labels"])
        }
    for other in rendered.of_kind("Deployment"):
        match = other["spec"]["selector"]["matchLabels"]
        assert match == selector_of(other["metadata"]["labels"])
        assert match.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    for monitor in rendered.of_kind("ServiceMonitor"):
        assert monitor["spec"]["selector"] == {
            "matchLabels": selector_of(monitor["metadata"]["labels"])
        }


@pytest.mark.parametrize("values", VALUE_SETS)
def test_replicas_only_without_an_autoscaler_and_never_above_the_partitions(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    merged = values_of(values)
    partitions = merged["inputTopic"]["partitions"]
    deployment = rendered.worker()
    hpas = rendered.of_kind("HorizontalPodAutoscaler")
    scaled = rendered.of_kind("ScaledObject")
    assert len(hpas) + len(scaled) <= 1, "never two autoscalers"
    if hpas or scaled:
        assert "replicas" not in deployment["spec"], "an autoscaler owns the replicas"
    else:
        assert 1 <= deployment["spec"]["replicas"] <= partitions
    for hpa in hpas:
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert hpa["spec"]["metrics"]
    for obj in scaled:
        assert obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"] <= partitions
    strategy = deployment["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxSurge"] == 0, "a rollout never adds an idle worker"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_pods_are_secure_by_default(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    """Every Deployment: the worker's, and the feedback consumer's or the API's when enabled."""
    rendered = render(values)
    for deployment in rendered.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = container(deployment)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"
        for mount in container(deployment)["volumeMounts"]:
            if mount["mountPath"] != "/tmp":
                assert mount.get("readOnly") is True, f"{mount['mountPath']} is writable"
        for account in rendered.of_kind("ServiceAccount"):
            assert account["automountServiceAccountToken"] is False
            assert pod["serviceAccountName"] == account["metadata"]["name"]


@pytest.mark.parametrize("values", VALUE_SETS)
def test_probes_port_and_grace_period(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    deployment = rendered.worker()
    worker = container(deployment)
    config = settings(rendered)["data"]
    (port,) = worker["ports"]
    assert port["name"] == "http"
    assert port["containerPort"] == int(config["METRICS_PORT"])
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert worker["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(config["SHUTDOWN_TIMEOUT_S"])
    [service] = [s for s in rendered.of_kind("Service") if s["metadata"]["name"] == FULLNAME]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["ports"][0]["name"] == "http"
    assert worker["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])


@pytest.mark.parametrize("values", VALUE_SETS)
def test_settings_are_the_workers_variables_and_hold_no_secret(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    merged = values_of(values)
    data = settings(rendered)["data"]
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == merged["kafka"]["bootstrapServers"]
    assert data["GROUP_ID"] == merged["kafka"]["groupId"]
    assert data["INPUT_TOPIC"] == merged["inputTopic"]["name"]
    assert data["OUTPUT_TOPIC"] == merged["outputTopic"]["name"]
    assert data["DLQ_TOPIC"] == merged["deadLetterTopic"]["name"]
    # The worker's own settings (a secret only as a file path), never a Python field name.
    allowed = {name.upper() for name in Settings.model_fields if name != "kafka"}
    allowed = (allowed - {"MODEL_SIGNING_KEY"}) | {"MODEL_SIGNING_KEY_FILE"}
    for key, value in data.items():
        assert isinstance(value, str)
        assert key in allowed or key.startswith("KAFKA_"), key
        assert not re.search("PASSWORD|SECRET|JAAS|TOKEN", key), f"{key} in a ConfigMap"
    for deployment in rendered.of_kind("Deployment"):
        for name, item in env_of(deployment).items():
            if re.search("PASSWORD|SECRET|USERNAME|TOKEN", name):
                assert "value" not in item, f"{name} as a plain value"
                assert set(item["valueFrom"]) == {"secretKeyRef"}
    # The API's ConfigMap: its own settings and those it shares with the worker, no Kafka.
    for config in rendered.of_kind("ConfigMap"):
        if config["metadata"]["name"] == SERVE:
            for key, value in config["data"].items():
                assert isinstance(value, str)
                assert key in allowed and not key.startswith("KAFKA_"), key
                if key in data:
                    assert value == data[key], f"{key}: the API and the worker differ"


def test_default_values_use_the_image_model_and_plaintext(render: Callable[..., Render]) -> None:
    rendered = render()
    data = settings(rendered)["data"]
    assert "MODEL_PATH" not in data, "the image's baked-in model by default"
    assert data["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not env_of(rendered.worker())
    assert rendered.worker()["spec"]["replicas"] == 2
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    image = container(rendered.worker())["image"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert image.endswith(":" + chart["appVersion"])
    for kind in CUSTOM_KINDS | {"HorizontalPodAutoscaler", "NetworkPolicy"}:
        assert not rendered.of_kind(kind), f"{kind} is opt-in"


def test_chart_files_equal_the_originals() -> None:
    """Helm reads only files inside the chart: the copies must not drift."""
    pairs = {
        CHART / "files" / "alerts.yml": ROOT / "prometheus" / "alerts.yml",
        CHART / "files" / "content-classifier.json": ROOT
        / "dashboards"
        / "content-classifier.json",
    }
    for copy, original in pairs.items():
        assert copy.read_bytes() == original.read_bytes(), (
            f"{copy.relative_to(ROOT)} differs from {original.relative_to(ROOT)}: "
            f"cp {original.relative_to(ROOT)} {copy.relative_to(ROOT)}"
        )
