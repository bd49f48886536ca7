"""Prompt selection: keep the prompts whose rewards vary most under the SFT model (the paper's "2k
high-variance" prompts).

    keep = select_high_variance([[1, 0, 1, 0], [1, 1, 1, 1]], keep=1)     # [0]
    uri = select_prompts(dataset_uri, model_uri, grpo_cfg, out_uri)       # the data step: a new dataset

A prompt whose rollouts all earn the same reward has zero advantage in GRPO and teaches nothing;
ranking by the (population) variance of the rewards of its rollouts keeps the informative ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reward_variances(rewards_per_prompt: Sequence[Sequence[float]]) -> list[float]:
    """Population variance of each prompt's rollout rewards (each prompt needs >= 2 rollouts)."""
    out = []
    for i, rewards in enumerate(rewards_per_prompt):
        if len(rewards) < 2:
            raise ValueError(f"prompt {i} has {len(rewards)} rollout reward(s): a variance needs at least 2")
        out.append(float(np.var(np.asarray(rewards, np.float64))))
    return out


def select_high_variance(rewards_per_prompt: Sequence[Sequence[float]], keep: int) -> list[int]:
    """Indices of the `keep` highest-variance prompts (ties: earlier prompt first), in dataset order."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    variances = reward_variances(rewards_per_prompt)
    order = sorted(range(len(variances)), key=lambda i: (-variances[i], i))
    return sorted(order[:keep])


def select_prompts(dataset_uri: str, model_uri: str, g, out_uri: str, device: str = "cpu") -> str:
    """Write the `g.select_high_variance` highest-variance prompts of `dataset_uri` as a dataset at `out_uri`.

    Each prompt gets `g.selection_samples` rollouts from the model at `model_uri` (the SFT model)
    scored with `g.rewards`; the subset keeps the canonical schema and is published manifest last.
    Returns `out_uri`; an already published selection there is reused (a resumed run).
    """
    import pyarrow as pa

    from components.grpo.policy import load_model
    from components.grpo.rewards import combine, compute_rewards
    from components.grpo.rollout import SamplingSettings, collect_rollouts, make_rollout_engine
    from components.grpo.samples import reward_samples, to_prompt
    from components.sft.ingest import open_dataset
    from vrt import storage
    from vrt.data.manifest import MANIFEST
    from vrt.data.reader import read_table

    if storage.exists(storage.join(out_uri, MANIFEST)):
        return out_uri
    manifest = open_dataset(dataset_uri)
    _, table = read_table(dataset_uri)
    rows = table.to_pylist()
    model = load_model(model_uri, device)
    engine = make_rollout_engine(g.engine, model, g.vllm_gpu_memory_utilization)
    n = g.selection_samples
    table_rewards: list[list[float]] = []
    try:
        for start in range(0, len(rows), 8):
            prompts = [to_prompt(r) for r in rows[start : start + 8]]
            settings = SamplingSettings(n, g.temperature, g.top_p, g.max_new_tokens, seed=g.seed + start)
            batch = collect_rollouts(
                engine, model, [p.image for p in prompts], [p.question for p in prompts], settings
            )
            totals = combine(compute_rewards(reward_samples(prompts, batch.traces, n), g.rewards), g.rewards)
            table_rewards += [totals[i * n : (i + 1) * n] for i in range(len(prompts))]
    finally:
        engine.close()
    keep = select_high_variance(table_rewards, g.select_high_variance)
    variances = reward_variances(table_rewards)
    extra = {
        "selected_from": dataset_uri,
        "selected_from_sha256": manifest.sha256,
        "candidates": len(rows),
        "kept": len(keep),
        "selection_samples": n,
        "rewards": dict(g.rewards),
        "model": model_uri,
        "min_kept_variance": min(variances[i] for i in keep),
        "max_dropped_variance": max((v for i, v in enumerate(variances) if i not in set(keep)), default=None),
    }
    write_subset(out_uri, manifest, pa.Table.from_pylist([rows[i] for i in keep], schema=table.schema), extra)
    return out_uri


def write_subset(out_uri: str, source, table, extra: dict) -> None:
    """One Parquet shard of `table` and its manifest (written last) at `out_uri`."""
    import hashlib
    import io

    import pyarrow.parquet as pq

    from vrt import storage
    from vrt.data.manifest import Manifest, Shard, write_manifest

    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    storage.write_bytes(storage.join(out_uri, "shard-00000.parquet"), data)
    n = table.num_rows
    shard = Shard(
        path="shard-00000.parquet", rows=n, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    manifest = Manifest(
        source=source.source,
        revision=f"{source.revision}+high-variance-{n}",
        counts={"input": n, "written": n, "quarantined": 0},
        quarantine_reasons={},
        shards=[shard],
        extra=extra,
    )
    write_manifest(out_uri, manifest)
