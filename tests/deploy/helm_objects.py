"""What the Helm chart tests share: the values sets every rendering test runs over, the names
and labels the chart gives its objects, and readers of a rendered Deployment and ConfigMap. Not a
test module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, CI_VALUES, RELEASE, Render

__all__ = [
    "CUSTOM_KINDS",
    "FEEDBACK",
    "FULLNAME",
    "LABELS",
    "SELECTOR",
    "SERVE",
    "SERVE_VALUES",
    "VALUE_SETS",
    "container",
    "env_of",
    "named",
    "selector_of",
    "settings",
    "values_of",
]

VALUE_SETS = [pytest.param((), id="default")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
FULLNAME = f"{RELEASE}-content-classifier"
SELECTOR = {"app.kubernetes.io/name": "content-classifier", "app.kubernetes.io/instance": RELEASE}
#: The name of each object of the HTTP API (`serve.enabled`), and the ci/ file that enables it.
SERVE = f"{FULLNAME}-serve"
#: The name of each object of the feedback consumer (`feedback.enabled`).
FEEDBACK = f"{FULLNAME}-feedback"
SERVE_VALUES = CHART / "ci" / "serve-values.yaml"
LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}


def selector_of(labels: dict[str, str]) -> dict[str, str]:
    """The selector labels of an object: the worker's, or those of the feedback consumer or
    the HTTP API (each a name of its own, so that the worker's selectors never take their
    pods in, nor theirs the workers')."""
    component = labels.get("app.kubernetes.io/component")
    if component in {"feedback", "serve"}:
        name = f"{SELECTOR['app.kubernetes.io/name']}-{component}"
        return {**SELECTOR, "app.kubernetes.io/name": name}
    return SELECTOR


def named(rendered: Render, kind: str, name: str) -> dict[str, Any]:
    """The one object of that kind and name."""
    found = [obj for obj in rendered.of_kind(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
    return found[0]


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
