"""docker-compose.yml, checked without a Docker engine: `docker-compose config` validates it,
and the resolved configuration is checked for what the stack promises (Apache Kafka in KRaft
mode, the topics, two workers, the HTTP API, a load generator, Prometheus with the alert
rules, Grafana with the dashboard). promtool checks the compose Prometheus configuration, and
that a fresh API's series, as its scrape job labels them, fire no alert (where a fresh
worker's would)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consumer.serve.keys import ApiKeys
from consumer.serve.metrics import ServeMetrics
from consumer.stream.metrics import Metrics
from tests.deploy.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SAMPLE = ROOT / "deploy" / "sample-messages.jsonl"
API_KEYS = ROOT / "deploy" / "api-keys.txt"


def compose(deploy_tools: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(deploy_tools / "docker-compose"),
            "--project-directory",
            str(ROOT),
            "-f",
            str(COMPOSE),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def resolved(deploy_tools: Path) -> dict[str, Any]:
    result = compose(deploy_tools, "config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        found[target] = source
    return found


def read_only_targets(service: dict[str, Any]) -> set[str]:
    """Container paths of the read-only bind mounts (compose v1 strings, v2 mappings)."""
    found = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) > 2 and "ro" in parts[2].split(","):
                found.add(parts[1])
        elif volume.get("read_only"):
            found.add(volume["target"])
    return found


def published(port: str | dict[str, Any]) -> tuple[str, str, str]:
    """(host address, host port, container port) of a published port, v1 or v2 style."""
    if isinstance(port, dict):
        return port.get("host_ip", ""), str(port["published"]), str(port["target"])
    host_ip, host_port, target = port.split("/")[0].split(":")
    return host_ip, host_port, target


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_config_is_valid(deploy_tools: Path) -> None:
    result = compose(deploy_tools, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_kafka_runs_in_kraft_mode_from_the_official_image(resolved: dict[str, Any]) -> None:
    kafka = resolved["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kafka["image"]), "a pinned version"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert not any("ZOOKEEPER" in key for key in env)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka


def test_topics_are_created_by_a_one_shot_service(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    topics = services["topics"]
    assert topics["image"] == services["kafka"]["image"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = command_text(topics)
    for topic in ("content.raw", "content.verdicts", "content.dlq"):
        assert re.search(rf"--create --if-not-exists --topic {re.escape(topic)} ", script)
    found = re.search(r"--topic content\.raw --partitions (\d+)", script)
    assert found, script
    partitions = int(found.group(1))
    workers = [name for name in services if name.startswith("worker-")]
    assert partitions >= len(workers) >= 2


def test_workers_share_one_group_and_stop_gracefully(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert len(workers) == 2
    for name, worker in workers.items():
        env = worker["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["GROUP_ID"] == "content-classifier"
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        grace = worker["stop_grace_period"]
        match = re.fullmatch(r"(\d+)s", grace)
        assert match, grace
        seconds = int(match.group(1))
        assert seconds > float(env["SHUTDOWN_TIMEOUT_S"]), name
        assert worker["read_only"] is True and worker["cap_drop"] == ["ALL"]
        assert worker["build"]["context"] == str(ROOT)
        # Only librdkafka properties may start with KAFKA_: the worker passes them through.
        assert {k for k in env if k.startswith("KAFKA_")} == {"KAFKA_BOOTSTRAP_SERVERS"}


def test_load_generator_sends_the_sample_file(resolved: dict[str, Any]) -> None:
    loadgen = resolved["services"]["loadgen"]
    script = command_text(loadgen)
    assert "content-classifier produce" in script
    targets = mounts(loadgen)
    (target,) = [t for t in targets if t.endswith("sample-messages.jsonl")]
    assert Path(targets[target]) == SAMPLE
    assert target in script
    assert loadgen["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_sample_messages_are_valid_input() -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    assert len(rows) >= 30
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    with_text = [row for row in rows if str(row.get("text", "")).strip()]
    assert len(with_text) >= len(rows) - 2, "at most two deliberate dead letters"


def test_prometheus_scrapes_the_workers_with_the_alert_rules(resolved: dict[str, Any]) -> None:
    prometheus = resolved["services"]["prometheus"]
    targets = mounts(prometheus)
    config_target = next(
        arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file=")
    )
    assert Path(targets[config_target]) == PROMETHEUS_CONFIG
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (rules,) = config["rule_files"]
    assert Path(targets[rules]) == ROOT / "prometheus" / "alerts.yml"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "content-classifier"]
    static = job["static_configs"][0]
    workers = sorted(n for n in resolved["services"] if n.startswith("worker-"))
    port = resolved["services"][workers[0]]["environment"]["METRICS_PORT"]
    assert sorted(static["targets"]) == [f"{w}:{port}" for w in workers]
    assert static["labels"]["group"] == "content-classifier"
    assert static["labels"]["namespace"]


def test_promtool_accepts_the_compose_prometheus_config(
    prometheus_dir: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(ROOT / "prometheus" / "alerts.yml")]  # the mounted file
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [str(prometheus_dir / "promtool"), "check", "config", "--syntax-only", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    resolved: dict[str, Any],
) -> None:
    grafana = resolved["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    targets = mounts(grafana)
    provisioning = Path(targets["/etc/grafana/provisioning"])
    assert provisioning == ROOT / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "content-classifier.yml").read_text())
    (provider,) = providers["providers"]
    folder = provider["options"]["path"]
    dashboard_targets = [t for t in targets if t.startswith(folder + "/")]
    assert [Path(targets[t]) for t in dashboard_targets] == [
        ROOT / "dashboards" / "content-classifier.json"
    ]


def test_published_ports_stay_on_loopback(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine"


def test_the_api_serves_the_workers_image_with_the_demo_keys(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    api, worker = services["api"], services["worker-1"]
    assert api["image"] == worker["image"] and api["build"] == worker["build"]
    assert api["command"] == ["serve"]
    env = api["environment"]
    assert env["SERVE_HOST"] == "0.0.0.0", "127.0.0.1 in a container reaches nobody"
    (port,) = api["ports"]
    assert published(port) == ("127.0.0.1", "8080", env["SERVE_PORT"])
    assert env["SERVE_PORT"] in command_text({"command": api["healthcheck"]["test"]})
    # The keys file: mounted read-only where SERVE_API_KEYS_FILE points, and loadable.
    targets = mounts(api)
    assert Path(targets[env["SERVE_API_KEYS_FILE"]]) == API_KEYS
    assert read_only_targets(api) == set(targets) == {env["SERVE_API_KEYS_FILE"]}
    assert "SERVE_ANONYMOUS" not in env
    keys = ApiKeys.load(API_KEYS)
    assert [name for name, _ in keys.digests] == ["demo"]
    assert "DEMO ONLY" in API_KEYS.read_text()
    # No Kafka, and the workers' hardening.
    assert not [key for key in env if key.startswith("KAFKA_")]
    assert "depends_on" not in api
    assert api["read_only"] is True and api["cap_drop"] == ["ALL"]
    assert api["tmpfs"] == ["/tmp"]
    assert api["security_opt"] == ["no-new-privileges:true"]
    assert int(api["stop_grace_period"].removesuffix("s")) > float(env["SHUTDOWN_TIMEOUT_S"])


def test_prometheus_scrapes_the_api_in_a_job_of_its_own(resolved: dict[str, Any]) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"].endswith("-serve")]
    # ContentClassifierApiDown selects the job by this name (and WorkerDown leaves it out).
    assert "content-classifier" in job["job_name"]
    (static,) = job["static_configs"]
    assert static["targets"] == [f"api:{resolved['services']['api']['environment']['SERVE_PORT']}"]
    assert "group" not in static["labels"], "the API is no member of the consumer group"
    # Its registry is its own: every series is kept (see test_a_fresh_api_fires_no_alert).
    assert "metric_relabel_configs" not in job
    assert "api" in resolved["services"]["prometheus"]["depends_on"]


Series = list[tuple[str, dict[str, str], float]]


def exported(registry: CollectorRegistry) -> Series:
    """Every sample of a registry's `/metrics` page, as Prometheus reads it."""
    text = generate_latest(registry).decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def serve_job() -> dict[str, str]:
    """The target labels of the compose Prometheus's API job: job, instance and its own."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"].endswith("-serve")]
    (static,) = job["static_configs"]
    (target,) = static["targets"]
    return {**static.get("labels", {}), "job": job["job_name"], "instance": target}


def promtool_test_rules(prometheus_dir: Path, tmp_path: Path, name: str, series: Series) -> str:
    """Ninety minutes of `series` with `up` 1, as the compose API job labels them, through
    every alert rule, each expected silent. Returns promtool's complaint, or "" when none
    fired."""
    job = serve_job()
    rules = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())
    alerts = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]

    def selector(metric: str, labels: dict[str, str]) -> str:
        pairs = {**labels, **job}
        return metric + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "}"

    test = {
        "rule_files": [str(ROOT / "prometheus" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": name,
                "interval": "1m",
                "input_series": [
                    {"series": selector(metric, labels), "values": f"{value!r}x90"}
                    for metric, labels, value in [("up", {}, 1.0), *series]
                ],
                "alert_rule_test": [
                    {"eval_time": "85m", "alertname": alert, "exp_alerts": []} for alert in alerts
                ],
            }
        ],
    }
    path = tmp_path / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [str(prometheus_dir / "promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_a_fresh_api_fires_no_alert(prometheus_dir: Path, tmp_path: Path) -> None:
    """No scrape-time drop is needed: a fresh `serve`'s registry, kept whole, fires no rule
    (it has none of the consume loop's series). The same check on a fresh worker's registry
    under the API's job fires the loop's rules, so this check can fail."""
    api = exported(ServeMetrics().registry)
    names = {name for name, _, _ in api}
    assert {"content_classifier_model_info", "content_classifier_http_batch_texts_count"} <= names
    # The dashboard tells workers from API pods by role.
    (build,) = [labels for name, labels, _ in api if name == "content_classifier_build_info"]
    assert build["role"] == "serve"
    assert promtool_test_rules(prometheus_dir, tmp_path, "fresh-api", api) == ""

    worker = exported(Metrics().registry)
    (build,) = [labels for name, labels, _ in worker if name == "content_classifier_build_info"]
    assert build["role"] == "worker"
    complaint = promtool_test_rules(prometheus_dir, tmp_path, "fresh-worker", worker)
    assert "ContentClassifierLoopStalled" in complaint
    assert "ContentClassifierWorkerNotReady" in complaint
