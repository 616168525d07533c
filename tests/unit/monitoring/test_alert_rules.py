"""The alert rules (prometheus/alerts.yml) pass promtool's check and its unit tests
(prometheus/alerts.test.yml), which make each alert fire once and stay silent at least once;
every alert links a runbook section that exists.

promtool comes from scripts/ensure-prometheus.sh (PATH, or Debian's package unpacked into
.tools/prometheus/): these tests run everywhere, they never skip.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

REPO = REPO_ROOT
RULES = REPO / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "prometheus" / "alerts.test.yml"
RUNBOOK = REPO / "docs" / "operations.md"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool(prometheus_dir: Path) -> Path:
    return prometheus_dir / "promtool"


def run(promtool: Path, *args: str) -> str:
    done = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\w+)\s*$", RULES.read_text(), flags=re.MULTILINE)


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub renders them (lower case, punctuation dropped, - for space)."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_promtool_check_rules_passes(promtool: Path) -> None:
    output = run(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_names())} rules found" in output


def test_promtool_unit_tests_pass(promtool: Path) -> None:
    output = run(promtool, "test", "rules", str(RULE_TESTS))
    assert "SUCCESS" in output


def test_example_scrape_config_is_valid(promtool: Path) -> None:
    run(promtool, "check", "config", str(REPO / "prometheus" / "prometheus.yml"))


def test_each_alert_is_tested_firing_and_silent() -> None:
    tests = RULE_TESTS.read_text()
    names = alert_names()
    assert len(names) >= 4 and len(set(names)) == len(names)
    for name in names:
        firing = re.search(rf"alertname: {name}\s*\n\s*exp_alerts:\s*\n\s*- exp_labels:", tests)
        silent = re.search(rf"alertname: {name},?\s*\n?\s*exp_alerts: \[\]", tests)
        assert firing, f"{name}: no test where it fires"
        assert silent, f"{name}: no test where it stays silent"


def test_each_alert_has_severity_annotations_and_a_runbook_section() -> None:
    rules = RULES.read_text()
    anchors = github_anchors(RUNBOOK.read_text())
    # Split the file at each alert; every block must carry its own labels and annotations.
    blocks = re.split(r"^\s*- alert:", rules, flags=re.MULTILINE)[1:]
    assert len(blocks) == len(alert_names())
    for block in blocks:
        name = block.split()[0]
        severity = re.search(r"^\s*severity:\s*(\w+)", block, flags=re.MULTILINE)
        assert severity and severity.group(1) in SEVERITIES, name
        for annotation in ("summary", "description"):
            assert re.search(rf"^\s*{annotation}:", block, flags=re.MULTILINE), (name, annotation)
        runbook = re.search(r'runbook_url:\s*"docs/operations\.md#([\w-]+)"', block)
        assert runbook, f"{name}: no runbook_url to docs/operations.md"
        assert runbook.group(1) in anchors, f"{name}: no section #{runbook.group(1)} in the runbook"
