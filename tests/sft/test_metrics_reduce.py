"""Step metrics are summed over ranks on the device the backend can reduce on (CPU for gloo)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from components.sft.metrics import all_reduce_sum


def test_not_distributed_returns_the_values() -> None:
    values = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert all_reduce_sum(values) is values


def test_gloo_reduces_a_copy_on_the_cpu(tmp_path) -> None:
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        values = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64)
        total = all_reduce_sum(values)
        assert total is not values and total.device.type == "cpu"
        assert total.tolist() == [1.5, 2.0, 3.0] and values.tolist() == [1.5, 2.0, 3.0]
    finally:
        dist.destroy_process_group()
