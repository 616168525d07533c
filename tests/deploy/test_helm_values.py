"""The Helm chart's values: the bad values files in tests/deploy/values/ are refused (by the
schema, and by the template checks even without it), every value is documented and described
by values.schema.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import BAD_VALUES, CHART, RELEASE, Render

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
    ("serve-port-zero.yaml", r"/serve/port.*minimum"),
    ("serve-port-string.yaml", r"/serve/port.*(integer|got string)"),
    ("serve-without-keys.yaml", r"/serve/apiKeys/existingSecret.*/serve/anonymous"),
    ("carry-headers-with-space.yaml", r"/config/carryHeaders.*does not match"),
    ("tracing-without-scheme.yaml", r"/tracing/otlpEndpoint.*does not match"),
    ("job-name-of-the-api.yaml", r"/serviceMonitor/jobName.*'not' failed"),
    ("group-stall-below-the-session-timeout.yaml", r"config\.groupStallS \(8\) must be at least"),
    ("group-stall-zero.yaml", r"/config/groupStallS.*exclusiveMinimum"),
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


def test_bad_api_limits_are_each_reported(render: Callable[..., Render]) -> None:
    stderr = render((BAD_VALUES / "serve-bad-limits.yaml",)).stderr
    for fragment in ("/serve/ratePerS", "/serve/burst", "/serve/maxBodyBytes", "apiKey"):
        assert fragment in stderr, stderr


def test_template_checks_hold_without_the_schema(helm: Callable[..., Any]) -> None:
    for name, message in (
        ("both-autoscalers.yaml", "exclusive"),
        ("too-many-keda-replicas.yaml", "exceeds inputTopic.partitions"),
        ("sasl-without-secret.yaml", "needs kafka.sasl.existingSecret"),
        ("serve-without-keys.yaml", "serve.enabled needs serve.apiKeys.existingSecret"),
        ("job-name-of-the-api.yaml", "serviceMonitor.jobName must not end in -serve or -feedback"),
        ("group-stall-below-the-session-timeout.yaml", "the session timeout (10 s"),
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
