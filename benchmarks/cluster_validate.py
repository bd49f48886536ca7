"""Benchmark: cost of the offline cluster checks (chart render + schema validation).

Times `helm template` of charts/vrt-platform (default and bundled values), strict
`kubernetes-validate` of the built-in kinds, and `vrt.k8s.crds.validate_custom_resource` of a
RayJob and an InferenceService against ../shared/crds (first call parses the CRDs, later calls
reuse the cached schema). Prints milliseconds per operation.

    bash scripts/get-helm.sh && .venv/bin/python benchmarks/cluster_validate.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import kubernetes_validate
import yaml

from vrt.k8s.crds import validate_custom_resource

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / ".tools" / "bin" / "helm"
CHART = ROOT / "charts" / "vrt-platform"
CRDS = ROOT.parent / "shared" / "crds"
RAYJOB = {
    "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "bench"},
    "spec": {"entrypoint": "python -m x", "rayClusterSpec": {
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h", "image": "vrt-train:0.1.0"}]}}},
        "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2, "rayStartParams": {},
                              "template": {"spec": {"containers": [{"name": "w", "image": "vrt-train:0.1.0"}]}}}]}},
}
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "bench"},
    "spec": {"predictor": {"model": {"modelFormat": {"name": "vrt"}, "storageUri": "s3://vrt/m"}}},
}


def timed(fn, repeat: int) -> tuple[float, object]:
    """(median milliseconds, last result) of `repeat` calls."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def render(*args: str) -> list[dict]:
    out = subprocess.run([str(HELM), "template", "vrt", str(CHART), *args], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat
    if not HELM.exists():
        raise SystemExit("run `bash scripts/get-helm.sh` first (puts helm into .tools/bin)")
    ms, docs = timed(render, repeat)
    print(f"helm template (default values, {len(docs)} objects): {ms:.1f} ms")
    ms, bundled = timed(lambda: render("-f", str(CHART / "examples" / "values-bundled.yaml")), repeat)
    print(f"helm template (bundled values, {len(bundled)} objects): {ms:.1f} ms")
    builtin = [d for d in bundled if not d["apiVersion"].startswith(("serving.kserve.io/", "ray.io/"))]
    ms, _ = timed(lambda: [kubernetes_validate.validate(d, "1.33.0", strict=True) for d in builtin], repeat)
    print(f"kubernetes-validate --strict ({len(builtin)} objects): {ms:.1f} ms, {ms / len(builtin):.2f} ms/object")
    if not CRDS.is_dir():
        print(f"CRD validation skipped: {CRDS} is absent")
        return
    for obj in (RAYJOB, ISVC):
        cold, _ = timed(lambda o=obj: validate_custom_resource(o, CRDS), 1)
        warm, _ = timed(lambda o=obj: validate_custom_resource(o, CRDS), repeat)
        print(f"validate_custom_resource {obj['kind']}: first call {cold:.0f} ms "
              f"(schema build; the very first also parses the CRD files), then {warm:.2f} ms")


if __name__ == "__main__":
    main()
