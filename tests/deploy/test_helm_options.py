"""The Helm chart's optional parts, each switched on by a values file in ci/: SASL, the model
signing key, TLS, the custom resources (ServiceMonitor, PrometheusRule, KEDA), the Grafana
dashboard and the NetworkPolicy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import CHART, CI_VALUES, NAMESPACE, ROOT, Render
from tests.deploy.helm_objects import (
    CUSTOM_KINDS,
    FULLNAME,
    SELECTOR,
    container,
    env_of,
    settings,
    values_of,
)


def test_sasl_credentials_come_from_the_secret(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "sasl-values.yaml",))
    data = settings(rendered)["data"]
    assert data["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["KAFKA_SSL_CA_LOCATION"] == "/etc/kafka/tls/ca.crt"
    assert data["KAFKA_SESSION_TIMEOUT_MS"] == "45000"
    assert data["MODEL_PATH"] == "/models/malicious-content"
    env = env_of(rendered.worker())
    for name, key in (("KAFKA_SASL_USERNAME", "username"), ("KAFKA_SASL_PASSWORD", "password")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "content-classifier-kafka-sasl",
            "key": key,
        }
    pod = rendered.worker()["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 60
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"] == {"matchLabels": SELECTOR}


def test_the_model_signing_key_is_a_mounted_secret_file(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "sasl-values.yaml",))
    data = settings(rendered)["data"]
    deployment = rendered.worker()
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


def test_a_shadow_model_comes_from_the_models_volume(render: Callable[..., Render]) -> None:
    data = settings(render((CHART / "ci" / "sasl-values.yaml",)))["data"]
    assert data["SHADOW_MODEL_PATH"] == "/models/malicious-content-cascade"
    assert data["SHADOW_OUTPUT_TOPIC"] == "content.verdicts.shadow"
    assert (data["SHADOW_TIMEOUT_S"], data["SHADOW_MODEL_THREADS"]) == ("10", "1")
    default = settings(render(()))["data"]
    assert not {k for k in default if k.startswith("SHADOW_")}
    assert (default["DRIFT_WINDOW_S"], default["DRIFT_MIN_VERDICTS"]) == ("600", "1000")
    without_volume = render((), ("shadow.subPath=candidate",))
    assert without_volume.returncode != 0
    assert "shadow.subPath needs model.volume" in without_volume.stderr


def test_tls_material_is_mounted_from_the_secret(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "tls-values.yaml",))
    data = settings(rendered)["data"]
    deployment = rendered.worker()
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
    assert "replicas" not in rendered.worker()["spec"]


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


def test_the_policy_file_is_a_mounted_configmap_the_worker_accepts(
    render: Callable[..., Render], tmp_path: Path
) -> None:
    from consumer.model.policies import load_policies

    rendered = render((CHART / "ci" / "hpa-values.yaml",))
    data = settings(rendered)["data"]
    assert data["POLICY_METADATA_KEY"] == "tenant"
    [policies] = [
        c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"].endswith("-policies")
    ]
    deployment = rendered.worker()
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
    assert volumes["policies"]["configMap"]["name"] == policies["metadata"]["name"]
    assert "subPath" not in mounts["policies"]  # a subPath mount would never see an update
    assert data["POLICY_FILE"] == mounts["policies"]["mountPath"] + "/policies.toml"
    written = tmp_path / "policies.toml"
    written.write_text(policies["data"]["policies.toml"])
    assert load_policies(written).by_value["kids-chat"]["block_threshold"] == 0.5
    default = render(())
    assert "POLICY_FILE" not in settings(default)["data"]
    assert not [
        c for c in default.of_kind("ConfigMap") if c["metadata"]["name"].endswith("-policies")
    ]


def test_the_feedback_consumer_is_a_deployment_of_its_own(render: Callable[..., Render]) -> None:
    rendered = render((CHART / "ci" / "keda-values.yaml",))
    data = settings(rendered)["data"]
    assert data["FEEDBACK_TOPIC"] == "content.feedback"
    assert (data["FEEDBACK_WINDOW_S"], data["FEEDBACK_MAX_VERDICTS"]) == ("86400", "1000000")
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    feedback = deployments[f"{FULLNAME}-feedback"]
    worker = deployments[FULLNAME]
    assert container(feedback)["args"] == ["feedback"]
    assert feedback["spec"]["replicas"] == 1
    feedback_labels = feedback["spec"]["template"]["metadata"]["labels"]
    # The worker's selectors never take the feedback pod in, nor the other way round.
    worker_selector = worker["spec"]["selector"]["matchLabels"]
    assert not worker_selector.items() <= feedback_labels.items()
    feedback_selector = feedback["spec"]["selector"]["matchLabels"]
    assert not feedback_selector.items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    services = {s["metadata"]["name"]: s for s in rendered.of_kind("Service")}
    assert services[f"{FULLNAME}-feedback"]["spec"]["selector"] == feedback_selector
    monitors = {m["metadata"]["name"] for m in rendered.of_kind("ServiceMonitor")}
    assert f"{FULLNAME}-feedback" in monitors
    default = render(())
    assert f"{FULLNAME}-feedback" not in {
        d["metadata"]["name"] for d in default.of_kind("Deployment")
    }
    missing = render((), ("feedback.enabled=true",))
    assert missing.returncode != 0 and "feedback.enabled needs feedback.topic" in missing.stderr
