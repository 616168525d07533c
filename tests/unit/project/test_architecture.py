"""The import rules between subpackages (pyproject.toml, `[tool.importlinter]`): the tree keeps
them, and each rule does fail on the import it forbids, shown on a copy of the package with
one forbidden import added."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from consumer.cli import _GROUPS, _HANDLERS, build_parser
from consumer.commands import CommandGroup
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the package in `tree`, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_tree_keeps_every_import_rule() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in contract_names():
        assert f"{name} KEPT" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("subpackage", "statement", "contract"),
    [
        ("stream", "import consumer.training", "stream never imports training"),
        ("stream", "import consumer.commands", "stream never imports training"),
        ("model", "import confluent_kafka", "model imports no Kafka client"),
        ("model", "import consumer.stream", "model imports no Kafka client"),
        ("training", "import consumer.stream", "training never imports stream"),
        ("quality", "import consumer.model", "quality imports no Kafka client"),
        ("quality", "import confluent_kafka", "quality imports no Kafka client"),
        ("serve", "import confluent_kafka", "serve imports no Kafka client"),
        ("serve", "import consumer.training", "serve imports no Kafka client"),
        ("serve", "import consumer.stream", "serve imports no Kafka client"),
        ("serving", "import consumer.stream", "serving imports no Kafka client"),
        ("serving", "import consumer.serve", "serving imports no Kafka client"),
        ("serving", "import confluent_kafka", "serving imports no Kafka client"),
        ("config", "import consumer.model", "config and contracts import no other"),
        ("contracts", "import consumer.stream", "config and contracts import no other"),
    ],
)
def test_a_forbidden_import_breaks_its_rule(
    tmp_path: Path, subpackage: str, statement: str, contract: str
) -> None:
    shutil.copytree(
        ROOT / "consumer", tmp_path / "consumer", ignore=shutil.ignore_patterns("__pycache__")
    )
    modules = sorted((tmp_path / "consumer" / subpackage).glob("*.py"))
    target = next(path for path in modules if path.name != "__init__.py")
    target.write_text(target.read_text() + f"\n{statement}  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    (name,) = [name for name in contract_names() if name.startswith(contract)]
    assert f"{name} BROKEN" in result.stdout, result.stdout
    # The copy was analysed, not the installed package: the added import is what it names.
    assert f"consumer.{subpackage}.{target.stem}" in result.stdout, result.stdout


def commands(parser: argparse.ArgumentParser) -> list[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def test_every_command_has_a_handler() -> None:
    """cli.py dispatches through a table (its handlers import their modules lazily)."""
    assert set(commands(build_parser())) == set(_HANDLERS)


@pytest.mark.parametrize("group", _GROUPS, ids=lambda group: group.__name__.rsplit(".", 1)[-1])
def test_each_group_handles_exactly_the_commands_it_registers(group: CommandGroup) -> None:
    """A command's arguments and its handler live in the same module of consumer.commands."""
    parser = argparse.ArgumentParser()
    group.register(parser.add_subparsers(dest="command"))
    assert commands(parser) == list(group.HANDLERS)
