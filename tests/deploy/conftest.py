"""Fixtures of the deployment checks: the tools (helm, hadolint, docker-compose) from
scripts/ensure-deploy-tools.sh, and `helm template` renders parsed into Kubernetes objects.

No cluster and no Docker engine is needed: the chart is rendered and validated offline, the
Dockerfile linted, the compose file validated by `docker-compose config`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "content-classifier"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
BAD_VALUES = Path(__file__).resolve().parent / "values"
#: The Kubernetes versions whose schemas (kubernetes-validate) the objects must satisfy, and
#: the version `helm template` renders for.
KUBE_VERSIONS = ("1.30.0", "1.35.0")
RELEASE = "demo"
NAMESPACE = "moderation"


@dataclass(frozen=True)
class Render:
    """The outcome of one `helm template`."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def objects(self) -> list[dict[str, Any]]:
        assert self.returncode == 0, self.stderr
        return [doc for doc in yaml.safe_load_all(self.stdout) if doc]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def worker(self) -> dict[str, Any]:
        """The worker's Deployment (the feedback consumer, when enabled, has its own)."""
        found = [
            d
            for d in self.of_kind("Deployment")
            if d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
        ]
        assert len(found) == 1, f"expected one worker Deployment, got {len(found)}"
        return found[0]


@pytest.fixture(scope="session")
def deploy_tools() -> Path:
    """The folder with helm, hadolint and docker-compose (found, or installed by the script)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "ensure-deploy-tools.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/ensure-deploy-tools.sh failed:\n{result.stderr}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's own folders in a temporary place: the tests leave nothing in $HOME."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


@pytest.fixture(scope="session")
def helm(
    deploy_tools: Path, helm_env: dict[str, str]
) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(deploy_tools / "helm"), *args],
            capture_output=True,
            text=True,
            check=False,
            env=helm_env,
            timeout=120,
        )

    return run


@pytest.fixture(scope="session")
def render(helm: Callable[..., subprocess.CompletedProcess]) -> Callable[..., Render]:
    """`render(values_files, set_values, kube_version)`: `helm template` of the chart, cached."""
    cache: dict[tuple[Any, ...], Render] = {}

    def _render(
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        kube_version: str = KUBE_VERSIONS[-1],
    ) -> Render:
        key = (tuple(values), tuple(set_values), kube_version)
        if key not in cache:
            args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
            args += ["--kube-version", kube_version]
            for path in values:
                args += ["--values", str(path)]
            for item in set_values:
                args += ["--set", item]
            result = helm(*args)
            cache[key] = Render(result.returncode, result.stdout, result.stderr)
        return cache[key]

    return _render
