"""infra/images: pinned base images without registry hosts, non-root users, and package versions
that agree with pyproject.toml and constraints/cpu.txt."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "infra" / "images"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAMES = ["vrt-base", "vrt-train", "vrt-serve"]
# Python of each base image (the tag says it; Ubuntu 22.04 images install python3.11 from apt).
PYTHON = {"vrt-base": "3.11.7", "vrt-train": "3.11", "vrt-serve": "3.11.7"}


def dockerfile(name: str) -> str:
    return (IMAGES / f"{name}.Dockerfile").read_text()


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[name.lower()] = version.split("+")[0]
    return out


def extra_specifiers(extra: str) -> dict[str, SpecifierSet]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    return {r.name.lower(): r.specifier for r in reqs}


@pytest.mark.parametrize("name", NAMES)
def test_base_image_is_pinned_and_has_no_registry_host(name):
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile(name), flags=re.MULTILINE)
    assert len(froms) == 1
    image = froms[0]
    repo, _, tag = image.rpartition(":")
    assert repo and tag and tag != "latest", image
    first = repo.split("/")[0]
    assert "/" not in repo or not ("." in first or ":" in first or first == "localhost"), image


@pytest.mark.parametrize("name", NAMES)
def test_image_runs_as_the_charts_non_root_user(name):
    text = dockerfile(name)
    assert re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE) == ["10001:10001"]
    assert "useradd --uid 10001 --gid 10001" in text
    values = (ROOT / "charts" / "vrt-platform" / "values.yaml").read_text()
    assert "runAsUser: 10001" in values and "runAsGroup: 10001" in values


@pytest.mark.parametrize("name", NAMES)
def test_image_version_label_is_the_package_version(name):
    version = PYPROJECT["project"]["version"]
    assert f"ARG VRT_VERSION={version}" in dockerfile(name)
    assert 'org.opencontainers.image.version="${VRT_VERSION}"' in dockerfile(name)


@pytest.mark.parametrize("name", NAMES)
def test_python_of_the_image_satisfies_requires_python(name):
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert Version(PYTHON[name]) in spec
    text = dockerfile(name)
    assert f"python:{PYTHON[name]}-" in text or f"python{PYTHON[name]}" in text


def test_each_image_installs_its_extras():
    installs = {n: re.findall(r'"\.\[([a-z,]+)\]"', dockerfile(n)) for n in NAMES}
    assert installs == {"vrt-base": ["pipeline,track"], "vrt-train": ["pipeline,track,train"], "vrt-serve": ["pipeline,serve,track"]}


def test_gpu_pins_satisfy_pyproject_and_match_the_cpu_pins():
    gpu = pins(IMAGES / "gpu-constraints.txt")
    cpu = pins(ROOT / "constraints" / "cpu.txt")
    specs = {**extra_specifiers("pipeline"), **extra_specifiers("track"), **extra_specifiers("train"),
             **extra_specifiers("serve")}
    for package, version in gpu.items():
        if package in specs:
            assert Version(version) in specs[package], f"{package}=={version} violates pyproject {specs[package]}"
        if package not in ("torch", "vllm"):
            assert cpu[package] == version, f"{package}: GPU images pin {version}, CPU tests run {cpu[package]}"
    assert gpu["torch"] == "2.14.0" and gpu["vllm"] == "0.33.0"
    assert Version(cpu["torch"]) in specs["torch"]


def test_every_extra_package_of_the_gpu_images_is_pinned():
    gpu = pins(IMAGES / "gpu-constraints.txt")
    wanted = set(extra_specifiers("train")) | set(extra_specifiers("serve")) | {"mlflow", "kfp", "kfp-kubernetes", "vllm"}
    assert sorted(wanted - set(gpu)) == []


def test_dockerignore_keeps_the_context_small():
    for name in NAMES:
        lines = (IMAGES / f"{name}.Dockerfile.dockerignore").read_text().splitlines()
        assert "*" in lines and "!vrt/" in lines and ".venv" not in " ".join(lines)
