"""Paths of the chart and its example values files, and a helm runner, for the chart tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "vrt-platform"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
HELM = ROOT / ".tools" / "bin" / "helm"


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
