"""pyproject.toml and environment.yml declare the same pip requirements."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _normalise(req: str) -> tuple[str, str, str]:
    r = Requirement(req)
    # specifier sets print sorted, so ">=1,<2" and "<2,>=1" compare equal
    return canonicalize_name(r.name), str(r.specifier), str(r.marker or "")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# The extras `make` installs (Makefile: `pip install -e '.[book,dev]'`), which environment.yml
# mirrors for conda / Binder users; other extras (timm, for `illusion audit --arch timm:NAME`)
# are opt-in and stay out of both.
MAKE_EXTRAS = ("book", "dev")


def _pyproject_requirements() -> list[str]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for name in MAKE_EXTRAS:
        reqs += project["optional-dependencies"][name]
    return reqs


def test_make_installs_the_extras_environment_yml_mirrors():
    assert f"-e '.[{','.join(MAKE_EXTRAS)}]'" in (ROOT / "Makefile").read_text()


def _environment() -> dict:
    path = ROOT / "environment.yml"
    if not path.exists():
        pytest.fail("environment.yml is missing")
    return yaml.safe_load(path.read_text())


def _split_environment(env: dict) -> tuple[list[str], list[str]]:
    conda, pip = [], []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, entry
            pip += [e for e in entry["pip"] if e.strip() not in ("-e .", ".", "-e ./")]
        else:
            conda.append(str(entry))
    return conda, pip


def test_pip_section_matches_pyproject():
    _, pip = _split_environment(_environment())
    from_pyproject = [_normalise(r) for r in _pyproject_requirements()]
    from_env = [_normalise(r) for r in pip]
    assert len(from_env) == len(set(from_env)), "duplicate pip entries in environment.yml"
    assert set(from_env) == set(from_pyproject)


def test_environment_installs_the_package_and_a_valid_python():
    env = _environment()
    assert env["name"] == "illusion"
    assert "conda-forge" in env.get("channels", [])
    conda, _ = _split_environment(env)
    pip_section = [e for e in env["dependencies"] if isinstance(e, dict)][0]["pip"]
    assert any(e.strip() in ("-e .", ".") for e in pip_section), "the package itself"
    assert "pip" in conda
    pythons = [c for c in conda if c.split("=")[0].split(">")[0].split("<")[0].strip() == "python"]
    assert len(pythons) == 1
    version = pythons[0].split("=", 1)[1].lstrip("=")
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert requires.contains(version + (".0" if version.count(".") == 1 else ""))


def test_pinned_torch_pair():
    # torch and torchvision are pinned as a matching pair in both files
    reqs = {canonicalize_name(Requirement(r).name): Requirement(r)
            for r in _pyproject_requirements()}
    for name in ("torch", "torchvision"):
        assert str(reqs[name].specifier).startswith("==")
