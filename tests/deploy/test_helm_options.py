"""The Helm chart's optional parts, each switched on by a values file in ci/: SASL, the model
signing key, TLS, the custom resources (ServiceMonitor, PrometheusRule, KEDA), the Grafana
dashboard, the NetworkPolicy, the feedback consumer and the HTTP API (`serve`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.config.settings import load_settings
from tests.deploy.conftest import CHART, CI_VALUES, NAMESPACE, RELEASE, ROOT, Render
from tests.deploy.helm_objects import (
    CUSTOM_KINDS,
    FEEDBACK,
    FULLNAME,
    SELECTOR,
    SERVE,
    SERVE_VALUES,
    container,
    env_of,
    named,
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
            if obj["metadata"]["labels"]["app.kubernetes.io/component"] == "serve":
                # The API is no member of the consumer group: no `group` label.
                assert relabel["job"] == merged["serviceMonitor"]["jobName"] + "-serve"
                assert "group" not in relabel
                # Its registry holds none of the consume loop's series: nothing to drop.
                assert "metricRelabelings" not in endpoint
            else:
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
    policy = named(render((CHART / "ci" / "keda-values.yaml",)), "NetworkPolicy", FULLNAME)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"]
    ports = [p["port"] for rule in policy["egress"] for p in rule["ports"]]
    assert ports == [53, 53, 9092, 9093]


def test_the_feedback_consumer_has_a_network_policy_like_the_workers(
    render: Callable[..., Render],
) -> None:
    """Scraped on its metrics port and reading Kafka like a worker: the worker's rules, on a
    policy of its own (the worker's selects only the worker's pods)."""
    path = CHART / "ci" / "keda-values.yaml"
    rendered, merged = render((path,)), values_of((path,))
    feedback = named(rendered, "NetworkPolicy", FEEDBACK)
    policy, worker = feedback["spec"], named(rendered, "NetworkPolicy", FULLNAME)["spec"]
    assert feedback["metadata"]["labels"]["app.kubernetes.io/component"] == "feedback"
    deployment = named(rendered, "Deployment", FEEDBACK)
    assert policy["podSelector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}
    assert {k: v for k, v in policy.items() if k != "podSelector"} == {
        k: v for k, v in worker.items() if k != "podSelector"
    }
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    # Ingress: only the named port its metrics are served on, from metricsFrom.
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == merged["networkPolicy"]["metricsFrom"]
    (port,) = container(deployment)["ports"]
    assert port["name"] == "http" and port["containerPort"] == merged["config"]["metricsPort"]
    # Egress: DNS, and the brokers' ports towards kafkaTo.
    dns, kafka = policy["egress"]
    assert [p["port"] for p in dns["ports"]] == [53, 53] and "to" not in dns
    assert [p["port"] for p in kafka["ports"]] == merged["networkPolicy"]["kafkaPorts"]
    assert kafka["to"] == merged["networkPolicy"]["kafkaTo"]
    # extraEgress too (an OpenTelemetry collector in ci/serve-values.yaml).
    extra = render((SERVE_VALUES,), ("feedback.enabled=true", "feedback.topic=content.feedback"))
    egress = named(extra, "NetworkPolicy", FEEDBACK)["spec"]["egress"]
    assert egress[2:] == values_of((SERVE_VALUES,))["networkPolicy"]["extraEgress"]
    # Only with both switches on.
    for set_values in (
        ("feedback.enabled=true", "feedback.topic=content.feedback"),
        ("networkPolicy.enabled=true",),
    ):
        names = {o["metadata"]["name"] for o in render((), set_values).of_kind("NetworkPolicy")}
        assert FEEDBACK not in names, set_values


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
    feedback = deployments[FEEDBACK]
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
    assert services[FEEDBACK]["spec"]["selector"] == feedback_selector
    monitors = {m["metadata"]["name"] for m in rendered.of_kind("ServiceMonitor")}
    assert FEEDBACK in monitors
    default = render(())
    assert FEEDBACK not in {d["metadata"]["name"] for d in default.of_kind("Deployment")}
    missing = render((), ("feedback.enabled=true",))
    assert missing.returncode != 0 and "feedback.enabled needs feedback.topic" in missing.stderr


def test_the_api_is_off_by_default(render: Callable[..., Render]) -> None:
    for path in [(), *((p,) for p in CI_VALUES if p != SERVE_VALUES)]:
        rendered = render(path)
        assert not [
            obj
            for obj in rendered.objects
            if obj["metadata"]["name"] == SERVE
            or obj["metadata"]["labels"].get("app.kubernetes.io/component") == "serve"
        ], f"{path}: serve objects without serve.enabled"
        assert "SERVE_HOST" not in settings(rendered)["data"]


def test_the_api_serves_the_workers_model_with_keys_from_a_secret(
    render: Callable[..., Render],
) -> None:
    rendered = render((SERVE_VALUES,))
    merged = values_of((SERVE_VALUES,))
    api, worker = named(rendered, "Deployment", SERVE), rendered.worker()
    serve = container(api)
    assert serve["args"] == ["serve"]
    assert serve["image"] == container(worker)["image"]
    assert api["spec"]["replicas"] == merged["serve"]["replicaCount"] == 2
    # Only the API's ConfigMap: the worker's Kafka settings would stop it at start-up.
    assert serve["envFrom"] == [{"configMapRef": {"name": SERVE}}]
    data = named(rendered, "ConfigMap", SERVE)["data"]
    assert data["SERVE_HOST"] == "0.0.0.0"
    (port,) = serve["ports"]
    assert port == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    assert data["SERVE_PORT"] == str(port["containerPort"]) == str(merged["serve"]["port"])
    for probe, path in (
        ("liveness", "/healthz"),
        ("readiness", "/readyz"),
        ("startup", "/healthz"),
    ):
        assert serve[f"{probe}Probe"]["httpGet"] == {"path": path, "port": "http"}
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
    # The keys: a Secret mounted read-only, the file SERVE_API_KEYS_FILE names.
    pod = api["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in serve["volumeMounts"]}
    keys = volumes["api-keys"]["secret"]
    assert keys["secretName"] == "content-classifier-api-keys"
    assert keys["items"] == [{"key": "api-keys", "path": "keys"}]
    assert mounts["api-keys"]["readOnly"] is True and "subPath" not in mounts["api-keys"]
    assert data["SERVE_API_KEYS_FILE"] == mounts["api-keys"]["mountPath"] + "/keys"
    assert data["SERVE_ANONYMOUS"] == "false"
    # The worker's model, policies and signing key: the same volumes, mounts and settings.
    worker_volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    worker_mounts = {m["name"]: m for m in container(worker)["volumeMounts"]}
    for name in ("models", "policies", "model-signing-key"):
        assert volumes[name] == worker_volumes[name], name
        assert mounts[name] == worker_mounts[name], name
    worker_data = settings(rendered)["data"]
    for key in ("MODEL_PATH", "POLICY_FILE", "MODEL_SIGNING_KEY_FILE", "MAX_TEXT_CHARS"):
        assert data[key] == worker_data[key], key
    assert data["MODEL_PATH"] == "/models/malicious-content"
    # Nothing of Kafka: no setting, no Secret, no TLS material.
    assert not [key for key in data if key.startswith("KAFKA_")]
    assert "kafka-tls" not in volumes and "env" not in serve
    assert data["SERVE_BURST"] == "10000000", "integers never in e-notation"
    service = named(rendered, "Service", SERVE)
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    assert api["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_the_api_settings_are_valid_settings(render: Callable[..., Render], tmp_path: Path) -> None:
    """What the API's ConfigMap holds passes the settings check `serve` starts with."""
    data = dict(named(render((SERVE_VALUES,)), "ConfigMap", SERVE)["data"])
    data.pop("MODEL_SIGNING_KEY_FILE")  # a file in the pod: the setting reads it
    loaded = load_settings(**{key.lower(): value for key, value in data.items()})
    assert loaded.serve_host == "0.0.0.0" and loaded.serve_port == 8080
    assert loaded.serve_api_keys_file == Path("/etc/content-classifier/api-keys/keys")
    assert (loaded.serve_rate_per_s, loaded.serve_burst) == (50.0, 10_000_000)
    assert loaded.serve_anonymous is False
    anonymous = render((), ("serve.enabled=true", "serve.anonymous=true"))
    data = named(anonymous, "ConfigMap", SERVE)["data"]
    assert load_settings(**{key.lower(): value for key, value in data.items()}).serve_anonymous


def test_selectors_of_the_worker_feedback_and_api_never_overlap(
    render: Callable[..., Render],
) -> None:
    """Each selector (Deployment, Service, PodDisruptionBudget, NetworkPolicy) takes in the
    pods of exactly one Deployment, of its own component."""
    rendered = render(
        (CHART / "ci" / "keda-values.yaml", SERVE_VALUES), ("podDisruptionBudget.enabled=true",)
    )
    deployments = rendered.of_kind("Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == {
        "worker",
        "feedback",
        "serve",
    }
    selecting = [(d, d["spec"]["selector"]["matchLabels"]) for d in deployments] + [
        (s, s["spec"]["selector"]) for s in rendered.of_kind("Service")
    ]
    selecting += [
        (b, b["spec"]["selector"]["matchLabels"]) for b in rendered.of_kind("PodDisruptionBudget")
    ]
    selecting += [
        (n, n["spec"]["podSelector"]["matchLabels"]) for n in rendered.of_kind("NetworkPolicy")
    ]
    kinds = {obj["kind"] for obj, _ in selecting if obj["metadata"]["name"] == SERVE}
    assert kinds == {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
    for obj, selector in selecting:
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        taken = [
            d["metadata"]["labels"]["app.kubernetes.io/component"]
            for d in deployments
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert taken == [component], f"{obj['kind']} {obj['metadata']['name']} takes in {taken}"


def test_the_api_needs_keys_or_anonymous(
    render: Callable[..., Render], helm: Callable[..., Any]
) -> None:
    missing = render((), ("serve.enabled=true",))
    assert missing.returncode != 0 and "/serve" in missing.stderr, missing.stderr
    both = ("serve.enabled=true", "serve.anonymous=true", "serve.apiKeys.existingSecret=keys")
    assert render((), both).returncode != 0
    # The template says why even without the schema.
    for set_values, message in (
        (("serve.enabled=true",), "serve.enabled needs serve.apiKeys.existingSecret"),
        (both, "serve.anonymous and serve.apiKeys.existingSecret are exclusive"),
    ):
        args = ["template", RELEASE, str(CHART), "--skip-schema-validation"]
        for item in set_values:
            args += ["--set", item]
        result = helm(*args)
        assert result.returncode != 0 and message in result.stderr, result.stderr
    # Anonymous: no keys file, no Secret; one replica: no budget; no monitor or policy unasked.
    anonymous = render((), ("serve.enabled=true", "serve.anonymous=true", "serve.replicaCount=1"))
    data = named(anonymous, "ConfigMap", SERVE)["data"]
    assert data["SERVE_ANONYMOUS"] == "true" and "SERVE_API_KEYS_FILE" not in data
    api = named(anonymous, "Deployment", SERVE)
    assert "api-keys" not in {v["name"] for v in api["spec"]["template"]["spec"]["volumes"]}
    assert "models" not in {v["name"] for v in api["spec"]["template"]["spec"]["volumes"]}
    assert "MODEL_PATH" not in data, "the image's model, like the worker"
    names = {(o["kind"], o["metadata"]["name"]) for o in anonymous.objects}
    for kind in ("PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"):
        assert (kind, SERVE) not in names, kind


def test_the_api_monitor_keeps_every_series_and_its_policy_allows_only_its_port(
    render: Callable[..., Render],
) -> None:
    rendered = render((SERVE_VALUES,))
    (endpoint,) = named(rendered, "ServiceMonitor", SERVE)["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": "content-classifier-serve"}
    ]
    # The API's registry is its own (test_compose.py runs its series through every rule):
    # no scrape-time drop, here or in the compose Prometheus; only the operator's own.
    assert "metricRelabelings" not in endpoint
    compose = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in compose["scrape_configs"] if j["job_name"] == "content-classifier-serve"]
    assert "metric_relabel_configs" not in job
    keep = {"action": "keep", "sourceLabels": ["__name__"], "regex": "content_classifier_.+"}
    own = render(
        (SERVE_VALUES,),
        (
            "serviceMonitor.metricRelabelings[0].action=keep",
            "serviceMonitor.metricRelabelings[0].sourceLabels[0]=__name__",
            "serviceMonitor.metricRelabelings[0].regex=content_classifier_.+",
        ),
    )
    (endpoint,) = named(own, "ServiceMonitor", SERVE)["spec"]["endpoints"]
    assert endpoint["metricRelabelings"] == [keep]
    policy = named(rendered, "NetworkPolicy", SERVE)["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == values_of((SERVE_VALUES,))["serve"]["networkPolicyFrom"]
    # DNS, and the collector the values allow (networkPolicy.extraEgress): no Kafka.
    assert [p["port"] for rule in policy["egress"] for p in rule["ports"]] == [53, 53, 4318]
    assert named(rendered, "PodDisruptionBudget", SERVE)["spec"]["maxUnavailable"] == 1


def test_carried_headers_and_tracing_reach_the_workers_and_the_api(
    render: Callable[..., Render],
) -> None:
    rendered = render((SERVE_VALUES,))
    data = settings(rendered)["data"]
    assert data["CARRY_HEADERS"] == "x-correlation-id,x-request-id"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert load_settings(carry_headers=data["CARRY_HEADERS"]).carried_headers >= {
        "x-correlation-id",
        "x-request-id",
        "traceparent",
    }
    # The API traces its requests; it produces no records to carry headers onto.
    api = named(rendered, "ConfigMap", SERVE)["data"]
    assert api["OTEL_EXPORTER_OTLP_ENDPOINT"] == data["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert "CARRY_HEADERS" not in api
    assert (api["DRIFT_WINDOW_S"], api["DRIFT_MIN_VERDICTS"]) == (
        data["DRIFT_WINDOW_S"],
        data["DRIFT_MIN_VERDICTS"],
    )
    default = settings(render(()))["data"]
    assert "CARRY_HEADERS" not in default and "OTEL_EXPORTER_OTLP_ENDPOINT" not in default


def test_the_group_stall_bound_reaches_the_worker_only_when_set(
    render: Callable[..., Render], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, the worker derives GROUP_STALL_S from its session timeout; set, the worker's
    ConfigMap carries it, and the worker accepts it beside the session timeout it checks it
    against. The API joins no group: its ConfigMap has none."""
    default = settings(render(()))["data"]
    assert "GROUP_STALL_S" not in default
    rendered = render(
        (SERVE_VALUES,),
        ("config.groupStallS=40", r"kafka.extraProperties.session\.timeout\.ms=10000"),
    )
    data = settings(rendered)["data"]
    assert data["GROUP_STALL_S"] == "40"
    assert data["KAFKA_SESSION_TIMEOUT_MS"] == "10000"
    assert container(rendered.worker())["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]
    assert "GROUP_STALL_S" not in named(rendered, "ConfigMap", SERVE)["data"]
    for key in ("GROUP_STALL_S", "KAFKA_SESSION_TIMEOUT_MS"):
        monkeypatch.setenv(key, data[key])
    assert load_settings().group_stall_bound_s() == 40.0
