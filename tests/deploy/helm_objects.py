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
    "FULLNAME",
    "LABELS",
    "SELECTOR",
    "VALUE_SETS",
    "container",
    "env_of",
    "settings",
    "values_of",
]

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
