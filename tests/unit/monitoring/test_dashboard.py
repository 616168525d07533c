"""The Grafana dashboard (dashboards/content-classifier.json) is a plain dashboard for
Grafana's sidecar: it parses, every panel has the `${datasource}` data source and a query,
every query is filtered by the namespace and consumer-group variables (the HTTP API's by the
namespace alone: it belongs to no consumer group), and every metric it and the alert rules
name is one the worker, the feedback consumer or the API exports. (tests/integration/
test_prometheus.py runs every query on a real Prometheus.)"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from consumer.serve.metrics import ServeMetrics
from consumer.stream.metrics import Metrics
from consumer.tools.feedback import FeedbackMetrics
from tests.paths import REPO_ROOT

REPO = REPO_ROOT
DASHBOARD = REPO / "dashboards" / "content-classifier.json"
RULES = REPO / "prometheus" / "alerts.yml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
METRIC = re.compile(r"\bcontent_classifier_[a-z0-9_]+")
UP = re.compile(r"\bup\{")
#: Selectors of the HTTP API's series (its job ends in -serve), which carry no `group`.
API = re.compile(r"\bcontent_classifier_http_[a-z0-9_]+|\bup\{job=~\"[^\"]*-serve\"")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for panel in dashboard["panels"]:
        flat.extend(panel.get("panels", []))  # panels of collapsed rows
        if panel["type"] != "row":
            flat.append(panel)
    return flat


def exported_names() -> set[str]:
    """Every sample name the worker's registry, the feedback consumer's or the API's can
    expose (labelled children or not)."""
    names: set[str] = set()
    families = [
        *Metrics().registry.collect(),
        *FeedbackMetrics().registry.collect(),
        *ServeMetrics().registry.collect(),
    ]
    for family in families:
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "info": ("_info",),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_a_plain_dashboard_with_a_datasource_variable(dashboard: dict[str, Any]) -> None:
    assert "__inputs" not in dashboard  # the sidecar imports it as it is
    assert dashboard["uid"] == "content-classifier" and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "group"):
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
        assert variables[name]["datasource"] == DATASOURCE
        assert f", {name})" in variables[name]["query"]["query"]


def test_every_panel_has_the_datasource_and_a_query(dashboard: dict[str, Any]) -> None:
    found = panels(dashboard)
    assert len(found) >= 10
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in found:
        title = panel["title"]
        assert panel["datasource"] == DATASOURCE, title
        assert panel["targets"], title
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), title
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), title
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, title
            assert target["expr"].strip(), title
            # Each selector is filtered, so one Prometheus can serve many deployments.
            selectors = len(METRIC.findall(target["expr"])) + len(UP.findall(target["expr"]))
            api = len(API.findall(target["expr"]))
            assert target["expr"].count('namespace=~"$namespace"') == selectors, title
            assert target["expr"].count('group=~"$group"') == selectors - api, title


def test_dashboard_covers_what_operators_watch(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(t["expr"] for p in panels(dashboard) for t in p["targets"])
    for needed in (
        "content_classifier_consumer_lag",
        "content_classifier_records_consumed_total",
        "content_classifier_verdicts_total",
        "content_classifier_dead_letters_total",
        "content_classifier_batch_size_bucket",
        "content_classifier_inference_duration_seconds_bucket",
        "content_classifier_end_to_end_latency_seconds_bucket",
        "content_classifier_rebalances_total",
        "content_classifier_http_requests_total",
        "content_classifier_http_request_duration_seconds_bucket",
        "content_classifier_http_batch_texts_bucket",
        "up{",
    ):
        assert needed in exprs, needed
    assert "histogram_quantile(0.99" in exprs


def test_worker_counts_leave_the_api_pods_out(dashboard: dict[str, Any]) -> None:
    """Workers are the jobs whose build_info says role="worker": an API pod (role="serve",
    no group) would count as one under "All" groups."""
    counted = [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel["targets"]
        if "up{" in target["expr"] and "content_classifier_build_info" in target["expr"]
    ]
    assert len(counted) >= 2
    for expr in counted:
        assert expr.count("content_classifier_build_info{") == expr.count('role="worker"'), expr


def test_every_metric_named_is_exported_by_a_worker_the_feedback_consumer_or_the_api(
    dashboard: dict[str, Any],
) -> None:
    exported = exported_names()
    exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    exprs.append(RULES.read_text())
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named, "no metric found"
    assert named <= exported, sorted(named - exported)
