"""A real Prometheus scrapes a real worker and the feedback consumer on the test broker, and
the HTTP API, and every query of the Grafana dashboard and every alert rule runs on it.

The worker classifies a stream (with malformed records, so that dead-letter series exist)
with a shadow model and a drift window small enough to fill; the feedback consumer matches
decisions on its verdicts (and skips a bad one); `serve` answers a steady trickle of
requests. Prometheus (from scripts/ensure-prometheus.sh) scrapes them every second with the
target labels a ServiceMonitor would attach (`namespace` and `group`; the API, a job of its
own, has no group), and loads prometheus/alerts.yml. Then:

- every dashboard query, with the template variables as Grafana substitutes them (All,
  one value, several values), returns data; with a namespace that does not exist, or (for
  the queries filtered by group) a group that does not exist, none;
- the variables' own queries list the target's namespace and group;
- Prometheus evaluates every rule without error, every alert expression runs through the
  query API, and every metric selector inside it matches series;
- every alert carries a severity, a summary, a description and a runbook section.
"""

from __future__ import annotations

import math
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumer.config.paths import default_model_path
from tests.conftest import Topics, labelled_texts
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import BackgroundStream, produce

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboards" / "content-classifier.json"
RULES = REPO / "prometheus" / "alerts.yml"
RUNBOOK = REPO / "docs" / "operations.md"
JOB = "content-classifier"
API_JOB = f"{JOB}-serve"
NAMESPACE = "it-moderation"
#: Short query windows so that a ~30 s test has data: Grafana's $__rate_interval is at
#: least four scrape intervals (here 1 s).
GRAFANA_VARIABLES = {"$__rate_interval": "15s", "$__interval": "5s", "$__range": "1m"}
SELECTOR = re.compile(r"\b(content_classifier_\w+|up)\b(\{[^}]*\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"')

MALFORMED: list[tuple[bytes | None, bytes | None, None]] = [
    (b"bad-json", b"this is not json", None),  # decode
    (b"bad-utf8", b"\xff\xfe\xfd", None),  # decode
    (b"tombstone", None, None),  # decode
    (b"no-text", b'{"id": "no-text"}', None),  # validate
    (b"blank", b'{"id": "blank", "text": "   "}', None),  # validate
]


# -- a Prometheus server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_bin(prometheus_dir: Path) -> Path:
    return prometheus_dir / "prometheus"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Scrape jobs: job name -> (targets, target labels).
Jobs = dict[str, tuple[list[str], dict[str, str]]]


class Prometheus:
    """One Prometheus process with its config and storage in a temporary folder."""

    def __init__(self, binary: Path, folder: Path, jobs: Jobs) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets, "labels": labels}]}
                for job, (targets, labels) in jobs.items()
            ],
        }
        # JSON is YAML: no YAML library needed.
        (folder / "prometheus.yml").write_bytes(orjson.dumps(config))
        self.log_path = folder / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def get(self, path: str, **params: str | list[str]) -> dict[str, Any]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as error:  # 400/422 carry the error as JSON
            body = error.read()
        answer: dict[str, Any] = orjson.loads(body)
        return answer

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", f"{expr}\n{answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {timeout_s} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def start_prometheus(
    prometheus_bin: Path, tmp_path: Path
) -> Iterator[Callable[[Jobs], Prometheus]]:
    started: list[Prometheus] = []

    def start(jobs: Jobs) -> Prometheus:
        folder = tmp_path / f"prometheus-{len(started)}"
        folder.mkdir()
        server = Prometheus(prometheus_bin, folder, jobs)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


# -- what is evaluated --------------------------------------------------------------------


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title and legend, expression) of every target of every panel."""
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                found.append((f"{inner['title']} / {target.get('legendFormat')}", target["expr"]))
    assert found
    return found


def substitute(expr: str, namespace: str, group: str) -> str:
    """The expression as Grafana sends it: built-in intervals and the variables' regexes."""
    for name, value in (*GRAFANA_VARIABLES.items(), ("namespace", namespace), ("group", group)):
        name = name.lstrip("$")
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def has_numbers(result: list[dict[str, Any]]) -> bool:
    """At least one sample with a number (a quantile of no traffic is NaN: not data)."""
    return any(not math.isnan(float(series["value"][1])) for series in result)


def wait_for(
    what: str, check: Callable[[], list[str]], timeout_s: float, prometheus: Prometheus
) -> None:
    """Poll `check` (which returns what is still missing) until it returns nothing."""
    deadline = time.monotonic() + timeout_s
    missing = check()
    while missing and time.monotonic() < deadline:
        time.sleep(1)
        missing = check()
    assert not missing, f"{what} after {timeout_s} s:\n" + "\n".join(missing)


class ApiTraffic:
    """Requests to `serve` from a thread, a few a second, until stopped: the API's counters
    keep increasing while Prometheus scrapes."""

    def __init__(self, url: str, texts: list[str]) -> None:
        self.url, self.texts = url, texts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-traffic", daemon=True)

    def start(self) -> ApiTraffic:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            n = 0
            while not self._stop.wait(0.1):
                batch = [self.texts[(n + i) % len(self.texts)] for i in range(3)]
                client.post("/v1/classify", json={"texts": batch})
                n += 3

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def github_anchors(markdown: str) -> set[str]:
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    }


# -- the test -----------------------------------------------------------------------------


def test_dashboard_and_alert_queries_run_on_a_real_prometheus(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    start_prometheus: Callable[[Jobs], Prometheus],
    tiny_model_path: Path,
) -> None:
    """A worker with a shadow model and a small drift window, the feedback consumer with
    moderators' decisions flowing (and one that is not JSON), and the HTTP API with requests
    flowing: every panel and rule has its series."""
    t = topics(partitions=2, extra={"feedback": 1})
    feedback_topic = t.extra["feedback"]
    rows = labelled_texts(50, seed=61)
    records: list[tuple[bytes | None, bytes | None, None]] = [
        (f"k{n}".encode(), orjson.dumps({"id": f"m{n}", "text": text}), None)
        for n, (text, _) in enumerate(rows)
    ]
    produce(bootstrap, t.input, records + MALFORMED)
    produce(bootstrap, feedback_topic, [(None, b"not json", None)])
    worker = run_worker(
        topics=t,
        KAFKA_STATISTICS_INTERVAL_MS="1000",
        # The shipped model names kinds of harm (the panel of verdicts by kind).
        MODEL_PATH=str(default_model_path()),
        SHADOW_MODEL_PATH=str(tiny_model_path),
        DRIFT_MIN_VERDICTS="10",
        FEEDBACK_TOPIC=feedback_topic,
    )
    feedback = run_worker(like=worker, command=("feedback",))
    api_port = free_port()
    api = run_worker(
        like=worker, command=("serve",), SERVE_PORT=str(api_port), SERVE_ANONYMOUS="true"
    )
    targets = [f"127.0.0.1:{worker.http_port()}", f"127.0.0.1:{feedback.http_port()}"]
    # The labelled texts again and again under new ids, and moderators deciding those verdicts
    # (well behind the stream, so each verdict is there): the counters keep increasing while
    # Prometheus scrapes (a rate needs two samples that differ), and no decision is repeated
    # (a repeated one counts once).
    stream = BackgroundStream(
        bootstrap,
        t.input,
        chunk=20,
        pause_s=0.1,
        value_of=lambda n: orjson.dumps({"id": f"s{n}", "text": rows[n % 50][0]}),
    ).start()
    decisions = BackgroundStream(
        bootstrap,
        feedback_topic,
        chunk=5,
        pause_s=0.3,
        value_of=lambda n: orjson.dumps({"id": f"s{n}", "label": rows[n % 50][1]}),
    ).start()
    requests = ApiTraffic(f"http://127.0.0.1:{api_port}", [text for text, _ in rows]).start()
    try:
        prometheus = start_prometheus(
            {
                JOB: (targets, {"namespace": NAMESPACE, "group": t.group}),
                API_JOB: ([f"127.0.0.1:{api_port}"], {"namespace": NAMESPACE}),
            }
        )
        check_dashboard(prometheus, t.group)
        check_alert_rules(prometheus)
    finally:
        stream.stop()
        decisions.stop()
        requests.stop()
        feedback.stop(10)
        assert api.stop(10) == 0, api.log()[-3000:]
    code, _ = worker.terminate()
    assert code == 0, worker.log()[-3000:]


def check_dashboard(prometheus: Prometheus, group: str) -> None:
    queries = dashboard_queries()
    # Grafana's "All" (allValue .*), one value, and a multi-value selection (a|b).
    selections = [(".*", ".*"), (NAMESPACE, group), (f"({NAMESPACE}|other)", f"({group}|other)")]

    def without_numbers() -> list[str]:
        return [
            f"{title} [{ns} / {grp}]: {substitute(expr, ns, grp)}"
            for ns, grp in selections
            for title, expr in queries
            if not has_numbers(prometheus.query(substitute(expr, ns, grp)))
        ]

    # The worker joins its group in about 3 s; rates need two scrapes with traffic.
    wait_for("dashboard queries without data", without_numbers, 60, prometheus)

    for title, expr in queries:  # the variables filter every query
        assert prometheus.query(substitute(expr, "no-such-namespace", ".*")) == [], title
        if "$group" in expr:  # the API's panels: it belongs to no consumer group
            assert prometheus.query(substitute(expr, ".*", "no-such-group")) == [], title

    dashboard = orjson.loads(DASHBOARD.read_bytes())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name, expected in (("namespace", NAMESPACE), ("group", group)):
        query = substitute(variables[name]["query"]["query"], ".*", ".*")
        matched = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert matched and matched.group(2) == name, query
        values = prometheus.get(f"/api/v1/label/{name}/values", **{"match[]": matched.group(1)})
        assert expected in values["data"], (query, values)


def check_alert_rules(prometheus: Prometheus) -> None:
    def rules() -> list[dict[str, Any]]:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def unhealthy() -> list[str]:
        loaded = rules()
        if not loaded:
            return ["no rules loaded"]
        return [
            f"{r['name']}: {r['health']} {r.get('lastError', '')}"
            for r in loaded
            if r["health"] != "ok"
        ]

    wait_for("rules not evaluated cleanly", unhealthy, 20, prometheus)

    loaded = rules()
    names = re.findall(r"^\s*- alert:\s*(\w+)\s*$", RULES.read_text(), flags=re.MULTILINE)
    assert sorted(r["name"] for r in loaded) == sorted(names)
    anchors = github_anchors(RUNBOOK.read_text())
    for rule in loaded:
        name = rule["name"]
        assert rule["type"] == "alerting", name
        assert rule["labels"].get("severity") in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        page, _, anchor = annotations.get("runbook_url", "").partition("#")
        assert page == "docs/operations.md" and anchor in anchors, (name, annotations)

        # The expression as Prometheus parsed it runs through the query API ...
        prometheus.query(rule["query"])
        # ... and what it is built on exists: each vector selector matches series (or, for
        # a label value that only appears when something goes wrong, the metric does and
        # carries the label).
        selectors = set(SELECTOR.findall(rule["query"]))
        assert selectors, f"{name}: no metric selector found in {rule['query']}"
        for metric, matchers in selectors:
            selector = metric + matchers
            if prometheus.query(selector):
                continue
            series = prometheus.query(metric)
            assert series, f"{name}: no series for {metric}"
            for label, _ in MATCHER.findall(matchers):
                assert any(label in s["metric"] for s in series), f"{name}: {metric} lacks {label}"
