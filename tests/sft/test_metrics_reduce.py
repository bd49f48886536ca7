"""Step metrics are summed over ranks on the device the backend can reduce on (CPU for gloo).

Each case runs in a fresh interpreter: the no-Ray launcher keeps its process group for the life of the
process (DeepSpeed caches groups made from it), so this process may already hold one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_not_distributed_returns_the_values() -> None:
    assert _run("""
        import torch
        from components.sft.metrics import all_reduce_sum
        values = torch.tensor([1.0, 2.0], dtype=torch.float64)
        print(all_reduce_sum(values) is values)
    """) == "True"


def test_gloo_reduces_a_copy_on_the_cpu(tmp_path) -> None:
    assert _run(f"""
        import torch, torch.distributed as dist
        from components.sft.metrics import all_reduce_sum
        dist.init_process_group("gloo", store=dist.FileStore({str(tmp_path / 'store')!r}, 1), rank=0, world_size=1)
        values = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64)
        total = all_reduce_sum(values)
        print(total is not values, total.device.type, total.tolist(), values.tolist())
        dist.destroy_process_group()
    """) == "True cpu [1.5, 2.0, 3.0] [1.5, 2.0, 3.0]"
