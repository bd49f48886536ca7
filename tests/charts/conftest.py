"""Fixtures for the chart tests: a real `helm` (scripts/get-helm.sh) and a cached `helm template`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from helmutil import CHART, EXAMPLES, HELM, ROOT, run_helm


@pytest.fixture(scope="session")
def helm() -> Path:
    """Path of the helm binary; the tests skip with the reason when get-helm.sh cannot obtain it."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "get-helm.sh")], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not HELM.exists():
        pytest.skip(f"helm unavailable: scripts/get-helm.sh failed: {proc.stderr.strip()[-500:]}")
    return HELM


@pytest.fixture(scope="session")
def render(helm):
    """render(values_file=None, *sets) -> list of manifests of `helm template vrt` in namespace vrt."""
    cache: dict[tuple, list[dict]] = {}

    def _render(values_file: Path | None = None, *sets: str) -> list[dict]:
        key = (values_file, sets)
        if key not in cache:
            args = ["template", "vrt", str(CHART), "--namespace", "vrt"]
            if values_file is not None:
                args += ["-f", str(values_file)]
            for s in sets:
                args += ["--set", s]
            proc = run_helm(helm, *args)
            assert proc.returncode == 0, proc.stderr
            cache[key] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def all_renders(render) -> dict[str, list[dict]]:
    """Manifests for the default values and for each example values file, by name."""
    out = {"default": render()}
    for f in EXAMPLES:
        out[f.stem] = render(f)
    return out

