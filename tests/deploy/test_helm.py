"""The Helm chart: lint, render with every values file in ci/, validate each object against
the Kubernetes schemas (kubernetes-validate, strict), check the custom resources by hand, and
check the promises of the chart: no replicas beside an autoscaler, secure pods, no secret in
a value, the partition cap, one autoscaler at most, files equal to the repository's
originals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import (
    BAD_VALUES,
    CHART,
    CI_VALUES,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    ROOT,
    Render,
)

VALUE_SETS = [pytest.param((), id="default")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
FULLNAME = f"{RELEASE}-content-classifier"
SELECTOR = {"app.kubernetes.io/name": "content-classifier", "app.kubernetes.io/instance": RELEASE}
LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}


def values_of(files: tuple[Path, ...]) -> dict[str, Any]:
    """The default values overlaid with the files (enough for the fields the tests read)."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())

    def overlay(base: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                overlay(base[key], value)
            else:
                base[key] = value

    for path in files:
        overlay(merged, yaml.safe_load(path.read_text()) or {})
    return merged


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def settings(rendered: Render) -> dict[str, Any]:
    """The worker's settings ConfigMap (the dashboard ConfigMap is the other one)."""
    (config,) = [c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"] == FULLNAME]
    return config


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(deployment).get("env", [])}


def test_ci_values_files_cover_the_main_variants() -> None:
    assert {"keda-values", "hpa-values", "tls-values", "sasl-values"} <= {
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
        for key, value in SELECTOR.items():
            assert metadata["labels"][key] == value


@pytest.mark.parametrize("values", VALUE_SETS)
def test_selectors_use_only_name_and_instance(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["selector"] == {"matchLabels": SELECTOR}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert SELECTOR.items() <= pod_labels.items()
    assert rendered.one("Service")["spec"]["selector"] == SELECTOR
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        assert pdb["spec"]["selector"] == {"matchLabels": SELECTOR}
        assert pdb["apiVersion"] == "policy/v1"
    for policy in rendered.of_kind("NetworkPolicy"):
        assert policy["spec"]["podSelector"] == {"matchLabels": SELECTOR}
    for monitor in rendered.of_kind("ServiceMonitor"):
        assert monitor["spec"]["selector"] == {"matchLabels": SELECTOR}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_replicas_only_without_an_autoscaler_and_never_above_the_partitions(
    render: Callable[..., Render], values: tuple[Path, ...]
) -> None:
    rendered = render(values)
    merged = values_of(values)
    partitions = merged["inputTopic"]["partitions"]
    deployment = rendered.one("Deployment")
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
    rendered = render(values)
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(rendered.one("Deployment"))["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {
        m["mountPath"]: m["name"] for m in container(rendered.one("Deployment"))["volumeMounts"]
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"
    for mount in container(rendered.one("Deployment"))["volumeMounts"]:
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
    deployment = rendered.one("Deployment")
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
    service = rendered.one("Service")
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
    allowed = {
        "BATCH_MAX_MESSAGES",
        "BATCH_MAX_WAIT_MS",
        "MAX_TEXT_CHARS",
        "MAX_VALUE_BYTES",
        "MODEL_SIGNING_KEY_FILE",
        "MODEL_RELOAD_INTERVAL_S",
        "METRICS_PORT",
        "SHUTDOWN_TIMEOUT_S",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "MODEL_PATH",
        "GROUP_ID",
        "INPUT_TOPIC",
        "OUTPUT_TOPIC",
        "DLQ_TOPIC",
    }
    for key, value in data.items():
        assert isinstance(value, str)
        assert key in allowed or key.startswith("KAFKA_"), key
        assert not re.search("PASSWORD|SECRET|JAAS|TOKEN", key), f"{key} in a ConfigMap"
    for name, item in env_of(rendered.one("Deployment")).items():
        if re.search("PASSWORD|SECRET|USERNAME|TOKEN", name):
            assert "value" not in item, f"{name} as a plain value"
            assert set(item["valueFrom"]) == {"secretKeyRef"}


def test_default_values_use_the_image_model_and_plaintext(render: Callable[..., Render]) -> None:
    rendered = render()
    data = settings(rendered)["data"]
    assert "MODEL_PATH" not in data, "the image's baked-in model by default"
    assert data["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not env_of(rendered.one("Deployment"))
    assert rendered.one("Deployment")["spec"]["replicas"] == 2
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    image = container(rendered.one("Deployment"))["image"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert image.endswith(":" + chart["appVersion"])
    for kind in CUSTOM_KINDS | {"HorizontalPodAutoscaler", "NetworkPolicy"}:
        assert not rendered.of_kind(kind), f"{kind} is opt-in"


def test_sasl_credentials_come_from_the_secret(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "sasl-values.yaml",))
    data = settings(rendered)["data"]
    assert data["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["KAFKA_SSL_CA_LOCATION"] == "/etc/kafka/tls/ca.crt"
    assert data["KAFKA_SESSION_TIMEOUT_MS"] == "45000"
    assert data["MODEL_PATH"] == "/models/malicious-content"
    env = env_of(rendered.one("Deployment"))
    for name, key in (("KAFKA_SASL_USERNAME", "username"), ("KAFKA_SASL_PASSWORD", "password")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "content-classifier-kafka-sasl",
            "key": key,
        }
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 60
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"] == {"matchLabels": SELECTOR}


def test_the_model_signing_key_is_a_mounted_secret_file(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "sasl-values.yaml",))
    data = settings(rendered)["data"]
    deployment = rendered.one("Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
    secret = volumes["model-signing-key"]["secret"]
    assert secret["secretName"] == "content-classifier-model-signing"
    assert secret["items"] == [{"key": "hmac-key", "path": "key"}]
    assert mounts["model-signing-key"]["readOnly"] is True
    assert data["MODEL_SIGNING_KEY_FILE"] == mounts["model-signing-key"]["mountPath"] + "/key"
    assert "MODEL_SIGNING_KEY" not in env_of(deployment)
    default = settings(render(()))["data"]
    assert "MODEL_SIGNING_KEY_FILE" not in default
    assert default["MAX_VALUE_BYTES"] == "1048576"


def test_tls_material_is_mounted_from_the_secret(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "tls-values.yaml",))
    data = settings(rendered)["data"]
    deployment = rendered.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
    secret = volumes["kafka-tls"]["secret"]
    assert secret["secretName"] == "content-classifier-kafka-tls"
    assert {item["key"]: item["path"] for item in secret["items"]} == {
        "ca.crt": "ca.crt",
        "user.crt": "tls.crt",
        "user.key": "tls.key",
    }
    assert mounts["kafka-tls"]["readOnly"] is True
    directory = mounts["kafka-tls"]["mountPath"]
    assert data["KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert data["KAFKA_SSL_CA_LOCATION"] == f"{directory}/ca.crt"
    assert data["KAFKA_SSL_CERTIFICATE_LOCATION"] == f"{directory}/tls.crt"
    assert data["KAFKA_SSL_KEY_LOCATION"] == f"{directory}/tls.key"
    key_password = env_of(deployment)["KAFKA_SSL_KEY_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert key_password == {"name": "content-classifier-kafka-tls", "key": "user.password"}


def custom_resources(render: Callable[..., Render]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in CI_VALUES:
        for obj in render((path,)).objects:
            if obj["kind"] in CUSTOM_KINDS:
                yield path, obj


def test_custom_resources_have_their_required_fields(render: Callable[..., Render]) -> None:
    seen: set[str] = set()
    for path, obj in custom_resources(render):
        seen.add(obj["kind"])
        merged = values_of((path,))
        kind, spec = obj["kind"], obj["spec"]
        if kind == "ScaledObject":
            assert obj["apiVersion"] == "keda.sh/v1alpha1"
            assert spec["scaleTargetRef"]["name"] == FULLNAME
            assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
            assert isinstance(spec["minReplicaCount"], int)
            assert spec["maxReplicaCount"] <= merged["inputTopic"]["partitions"]
            (trigger,) = spec["triggers"]
            assert trigger["type"] == "kafka"
            metadata = trigger["metadata"]
            assert metadata["bootstrapServers"] == merged["kafka"]["bootstrapServers"]
            assert metadata["consumerGroup"] == merged["kafka"]["groupId"]
            assert metadata["topic"] == merged["inputTopic"]["name"]
            assert metadata["offsetResetPolicy"] == "earliest", "the workers start at earliest"
            assert metadata["allowIdleConsumers"] == "false"
            # KEDA's trigger metadata is a map of strings.
            assert all(isinstance(v, str) for v in metadata.values()), metadata
            assert int(metadata["lagThreshold"]) >= 1
            protocol = merged["kafka"]["securityProtocol"]
            assert (metadata.get("tls") == "enable") == (protocol in {"SSL", "SASL_SSL"})
            if protocol.startswith("SASL_"):
                assert metadata["sasl"] in {"plaintext", "scram_sha256", "scram_sha512"}
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] == FULLNAME
        elif kind == "TriggerAuthentication":
            assert obj["apiVersion"] == "keda.sh/v1alpha1"
            refs = spec["secretTargetRef"]
            assert refs
            for ref in refs:
                assert set(ref) == {"parameter", "name", "key"}
                assert ref["parameter"] in {
                    "username",
                    "password",
                    "ca",
                    "cert",
                    "key",
                    "keyPassword",
                }
        elif kind == "ServiceMonitor":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            (endpoint,) = spec["endpoints"]
            assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
            assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
            relabel = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
            assert "content-classifier" in relabel["job"]
            assert relabel["group"] == merged["kafka"]["groupId"]
            assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        elif kind == "PrometheusRule":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert spec["groups"]
            for group in spec["groups"]:
                assert group["name"] and group["rules"]
                for rule in group["rules"]:
                    assert rule["alert"] and rule["expr"]
                    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert seen == CUSTOM_KINDS


def test_keda_authentication_uses_the_workers_secrets(render: Callable[..., Render]) -> None:
    rendered = render(
        (CHART / "ci" / "sasl-values.yaml",),
        ("keda.enabled=true", "keda.maxReplicaCount=6"),
    )
    auth = rendered.one("TriggerAuthentication")
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "username": ("content-classifier-kafka-sasl", "username"),
        "password": ("content-classifier-kafka-sasl", "password"),
        "ca": ("kafka-cluster-ca", "ca.crt"),
    }
    metadata = rendered.one("ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert metadata["sasl"] == "scram_sha512" and metadata["tls"] == "enable"
    assert "replicas" not in rendered.one("Deployment")["spec"]


def test_prometheus_rule_wraps_the_alert_rules(render: Callable[..., Render]) -> None:
    original = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())["groups"]
    plain = render((), ("prometheusRule.enabled=true",)).one("PrometheusRule")
    assert plain["spec"]["groups"] == original
    published = render((CHART / "ci" / "keda-values.yaml",)).one("PrometheusRule")
    rules = [rule for group in published["spec"]["groups"] for rule in group["rules"]]
    originals = [rule for group in original for rule in group["rules"]]
    assert [r["alert"] for r in rules] == [r["alert"] for r in originals]
    for rule, source in zip(rules, originals, strict=True):
        assert rule["expr"] == source["expr"]
        assert rule["labels"] == {**source["labels"], "team": "moderation"}
        url = (
            "https://example.org/content-classifier/blob/main/"
            + source["annotations"]["runbook_url"]
        )
        assert rule["annotations"]["runbook_url"] == url


def test_grafana_dashboard_configmap(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "keda-values.yaml",))
    (dashboard,) = [
        c for c in rendered.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Kafka"}
    original = json.loads((ROOT / "dashboards" / "content-classifier.json").read_text())
    assert json.loads(dashboard["data"]["content-classifier.json"]) == original


def test_network_policy_limits_traffic_to_metrics_dns_and_kafka(
    render: Callable[..., Render],
) -> None:
    policy = render((CHART / "ci" / "keda-values.yaml",)).one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"]
    ports = [p["port"] for rule in policy["egress"] for p in rule["ports"]]
    assert ports == [53, 53, 9092, 9093]


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


REJECTED = [
    (
        "too-many-keda-replicas.yaml",
        r"keda\.maxReplicaCount \(8\) exceeds inputTopic\.partitions \(4\)",
    ),
    (
        "too-many-hpa-replicas.yaml",
        r"autoscaling\.maxReplicas \(4\) exceeds inputTopic\.partitions \(3\)",
    ),
    ("too-many-replicas.yaml", r"replicaCount \(3\) exceeds inputTopic\.partitions \(2\)"),
    ("both-autoscalers.yaml", r"/autoscaling/enabled.*must be false"),
    ("bad-schema.yaml", r"replicaCount.*(integer|got string)"),
    ("short-grace-period.yaml", r"terminationGracePeriodSeconds \(30\) must exceed"),
    ("sasl-without-secret.yaml", r"/kafka/sasl/existingSecret"),
    ("password-in-values.yaml", r"invalid propertyName 'sasl\.password'"),
    ("password-key-in-values.yaml", r"(additional properties|additionalProperties).*password"),
]


@pytest.mark.parametrize(("name", "message"), REJECTED, ids=[name for name, _ in REJECTED])
def test_bad_values_are_rejected(render: Callable[..., Render], name: str, message: str) -> None:
    result = render((BAD_VALUES / name,))
    assert result.returncode != 0, f"{name} rendered"
    assert re.search(message, result.stderr, re.DOTALL), result.stderr


def test_bad_schema_reports_every_problem(render: Callable[..., Render]) -> None:
    stderr = render((BAD_VALUES / "bad-schema.yaml",)).stderr
    for fragment in ("/replicaCount", "/config/logFormat", "bootstrapServer"):
        assert fragment in stderr, stderr


def test_template_checks_hold_without_the_schema(helm: Callable[..., Any]) -> None:
    for name, message in (
        ("both-autoscalers.yaml", "exclusive"),
        ("too-many-keda-replicas.yaml", "exceeds inputTopic.partitions"),
        ("sasl-without-secret.yaml", "needs kafka.sasl.existingSecret"),
    ):
        result = helm(
            "template",
            RELEASE,
            str(CHART),
            "--skip-schema-validation",
            "--values",
            str(BAD_VALUES / name),
        )
        assert result.returncode != 0, name
        assert message in result.stderr, result.stderr


def test_every_value_is_documented() -> None:
    """helm-docs style: each key has a `# --` comment, on itself or on an enclosing key."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    documented_parents: list[tuple[int, bool]] = []  # (indent, documented) of enclosing keys
    undocumented = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while documented_parents and documented_parents[-1][0] >= indent:
            documented_parents.pop()
        comment = []
        previous = number - 1
        while previous >= 0 and lines[previous].strip().startswith("#"):
            comment.append(lines[previous].strip())
            previous -= 1
        documented = any(c.startswith("# --") for c in comment)
        if not documented and not any(d for _, d in documented_parents):
            # A key whose children are all documented is a plain grouping key.
            child_indent = None
            for later in lines[number + 1 :]:
                m = re.match(r"^(\s*)\S", later)
                if m:
                    child_indent = len(m.group(1))
                    break
            if child_indent is None or child_indent <= indent:
                undocumented.append(match.group(2))
        documented_parents.append((indent, documented))
    assert not undocumented, f"values without a '# --' comment: {undocumented}"


def test_schema_describes_every_default_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], data: dict[str, Any], path: str) -> None:
        for key, value in data.items():
            assert key in node.get("properties", {}), f"{path}{key} is not in values.schema.json"
            child = node["properties"][key]
            if isinstance(value, dict) and "properties" in child:
                walk(child, value, f"{path}{key}.")

    walk(schema, values, "")
