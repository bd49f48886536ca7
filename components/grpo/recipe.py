"""GRPO recipe, run in every Ray Train worker (or every process, without Ray): setup / train / cleanup.

One explicit loop; each step, on every worker:
1. rollouts: `group_size` completions for each of this worker's `prompts_per_step` prompts
   (HF generate or vLLM), masks from one teacher-forced forward of the policy;
2. rewards: every configured reward, weighted sum, group-normalised advantages;
3. update: token log-probs of the rollouts through the training engine (DeepSpeed or DDP,
   the SFT step's engines), clipped ratio loss reduced per `loss_reduction` (+ KL to the frozen
   reference when `kl_coef > 0`; + with `mask_loss`, BCE + Dice of each group's best rollout's
   answer masks from the same forward), `updates_per_batch` optimizer steps, then the rollout
   engine syncs weights.
Metrics are all-reduced and logged to MLflow by rank 0; every rank reports checkpoints
(components/sft/worker.py) every `checkpoint_every` steps and at the end; rank 0 exports the
final model. `train_loop_per_worker(config)` is what TorchTrainer runs (or launch.py, in this
process, when config["launcher"] is "none").
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from components.grpo.config import job_from_raw
from components.grpo.metrics import StepStats
from components.grpo.objective import group_advantages, policy_loss
from components.grpo.rewards import combine, compute_rewards
from components.grpo.rollout import SamplingSettings, collect_rollouts, repeat
from components.grpo.samples import reward_samples, to_prompt
from components.sft import checkpoint as ckpt
from components.sft.config import SFTConfig
from components.sft.metrics import MlflowSink
from components.sft.mixture import MixturePlan, MixtureRows, step_source_counts
from components.sft.recipe import to_device


def engine_settings(g, world: int) -> SFTConfig:
    """The SFT engines' settings for GRPO: one optimizer step per update, no warm-up."""
    return SFTConfig(
        strategy=g.strategy,
        zero_stage=g.zero_stage,
        num_workers=world,
        use_gpu=g.use_gpu,
        micro_batch_size=1,
        global_batch_size=world,
        lr=g.lr,
        weight_decay=g.weight_decay,
        warmup_ratio=0.0,
        grad_clip=g.grad_clip,
        seed=g.seed,
    )


class GRPORecipe:
    """State of one worker's GRPO run."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.job = config
        self.cfg = job_from_raw(config["raw"], config["source"])
        self.g = self.cfg.grpo
        self.run_dir: str = config["run_dir"]
        self.last: dict[str, float] = {}  # metrics of the last step run here (exported with the model)
        self.worker: Any = None
        self.rollouts: Any = None
        self.sink: MlflowSink | None = None

    def setup(self) -> None:
        """Policy (+ reference), training engine, rollout engine, prompt plan, and a checkpoint's state."""
        from components.grpo.policy import PolicyLogProbs, apply_grpo_policy, load_model
        from components.grpo.rollout import make_rollout_engine
        from components.sft.engines import make_engine
        from components.sft.worker import make_worker

        os.environ.setdefault("DS_ACCELERATOR", "cuda" if self.g.use_gpu else "cpu")
        self.worker = make_worker(self.job, self.g.use_gpu, self.g.keep_checkpoints, self.g.num_workers)
        self.rank, self.world, self.device = self.worker.rank, self.worker.world, self.worker.device
        torch.manual_seed(self.g.seed)
        self.policy = load_model(self.job["model_uri"], self.device)
        apply_grpo_policy(self.policy, self.g.freeze_mask_decoder, train_projection=self.g.mask_loss)
        self.ref = None  # the frozen SFT model, for the KL term or the KL metric
        if self.g.kl_coef > 0 or self.g.track_kl:
            reference = load_model(self.job["model_uri"], self.device).eval().requires_grad_(False)
            self.ref = PolicyLogProbs(reference)
        self.rows = MixtureRows.open(tuple((uri, w) for uri, w in self.job["datasets"]), "grpo.datasets")
        shards = [s.rows for src in self.rows.sources for s in src.manifest.shards]
        self.plan = MixturePlan(  # whole shards as the unit of the shuffle
            tuple(shards), self.g.prompts_per_step * self.world, self.world, 1, self.g.seed,
            sources=tuple(len(src.manifest.shards) for src in self.rows.sources),
            weights=tuple(w for _, w in self.rows.mixture),
        )
        self.total = self.g.max_steps or self.g.epochs * self.plan.steps_per_epoch
        self.engine = make_engine(
            PolicyLogProbs(self.policy),
            engine_settings(self.g, self.world),
            self.total * self.g.updates_per_batch,
        )
        self.rollouts = make_rollout_engine(self.g.engine, self.policy, self.g.vllm_gpu_memory_utilization)
        self.expect = {
            "world": self.world,
            "dataset_sha256": self.rows.digest,
            "strategy": self.g.strategy,
            "seed": self.g.seed,
            "group_size": self.g.group_size,
            "prompts_per_step": self.g.prompts_per_step,
        }
        self.step = self._restore()
        tracked = self.rank == 0 and bool(self.job["run_id"])  # no run id: untracked (the GPU check kit)
        self.sink = MlflowSink(self.job["run_id"], self.job["tracking_uri"]) if tracked else None

    def _restore(self) -> int:
        from vrt import storage

        with self.worker.restart_checkpoint() as restarted:
            if restarted is not None:
                return self._load(restarted)
        if self.job["resume"]:
            with tempfile.TemporaryDirectory(prefix="vrt-grpo-resume-") as tmp:
                return self._load(storage.download_dir(self.job["resume"], tmp))
        return 0

    def _load(self, directory: Path) -> int:
        state, rng = ckpt.read_state(directory, self.rank, self.expect)
        self.engine.load(directory)
        torch.set_rng_state(rng)
        self.rollouts.sync(self.policy)
        return int(state["step"])

    def train(self) -> None:
        """The loop: `total` GRPO steps, periodic checkpoints, then the export."""
        self.engine.module.train()
        while self.step < self.total:
            values = self.last = self._train_step()
            self.step += 1
            if self.sink is not None:
                self.sink.log(values, self.step)
            if self.step % self.g.checkpoint_every == 0 or self.step == self.total:
                self.save_checkpoint(values)
        self.finish()

    def _prompts(self) -> tuple[list, bool]:
        refs = self.plan.micro_batches(self.step, self.rank)[0]
        real = bool(refs)
        refs = refs or self.plan.global_batch_rows(self.step)[:1]  # filler: same work, zero weight
        return [to_prompt(r) for r in self.rows.rows(refs)], real

    def _train_step(self) -> dict[str, float]:
        g, start = self.g, time.perf_counter()
        prompts, real = self._prompts()
        images, questions = [p.image for p in prompts], [p.question for p in prompts]
        settings = SamplingSettings(
            g.group_size,
            g.temperature,
            g.top_p,
            g.max_new_tokens,
            seed=g.seed * 1_000_003 + self.step * 1009 + self.rank,
        )
        batch = collect_rollouts(self.rollouts, self.policy, images, questions, settings)
        rewarded = time.perf_counter()
        per_reward = compute_rewards(reward_samples(prompts, batch.traces, g.group_size), g.rewards)
        totals = combine(per_reward, g.rewards)
        advantages = group_advantages(torch.tensor(totals), g.group_size).to(self.device)
        grouped = torch.tensor(totals).view(-1, g.group_size)
        stats = StepStats(list(g.rewards), with_kl=self.ref is not None)
        if real:
            zero = int((grouped.std(dim=1) == 0).sum())
            stats.add_rewards(per_reward, totals, zero, grouped.shape[0])
            stats.add_rollouts(len(batch.traces), batch.tokens, batch.generate_s, batch.masks_s)
        reward_s = time.perf_counter() - rewarded
        self._update(batch, prompts, advantages, stats, real)
        self.rollouts.sync(self.policy)
        update_s = time.perf_counter() - rewarded - reward_s
        values = stats.reduce(reward_s, update_s, time.perf_counter() - start)
        counts = step_source_counts(self.plan, self.step, self.rank)
        values |= {f"samples/{name}": float(n) for name, n in zip(self.rows.names, counts, strict=True)}
        return values | {"lr": self.engine.lr(), "epoch": self.step / self.plan.steps_per_epoch}

    def _update(self, batch, prompts, advantages, stats: StepStats, real: bool) -> None:
        from components.grpo.policy import PolicyLogProbs, best_rollout_targets

        g = self.g
        ids = [list(t.token_ids) for t in batch.traces]
        seqs = self.policy.processor.sequence_batch(
            repeat([p.image for p in prompts], g.group_size),
            repeat([p.question for p in prompts], g.group_size),
            ids,
        )
        seqs = to_device(seqs, self.device)
        mask = seqs["labels"][:, 1:] != -100
        with torch.no_grad():
            old = PolicyLogProbs(self.policy)(**seqs) if g.updates_per_batch > 1 else None
            ref = self.ref(**seqs) if self.ref is not None else None
        if g.mask_loss:
            texts, truth = [t.text for t in batch.traces], [p.answer_masks for p in prompts]
            seqs["targets"] = best_rollout_targets(texts, truth, advantages, g.group_size)
        for _ in range(g.updates_per_batch):
            out = self.engine.forward(seqs)
            logp, mask_loss = out if g.mask_loss else (out, None)
            loss, loss_stats = policy_loss(
                logp,
                logp.detach() if old is None else old,
                advantages,
                mask,
                g.clip_eps,
                ref,
                g.kl_coef,
                g.loss_reduction,
            )
            if mask_loss is not None:
                loss = loss + mask_loss
                loss_stats = dataclasses.replace(loss_stats, mask_loss=float(mask_loss.detach()))
            self.engine.backward(loss if real else loss * 0.0)
            self.engine.step()
            if real:
                stats.add_loss(loss_stats, loss_stats.tokens)

    def save_checkpoint(self, values: dict[str, float]) -> None:
        """Every rank writes its engine files + RNG state and reports them under step_NNNNNNN."""
        with tempfile.TemporaryDirectory(prefix="vrt-grpo-ckpt-") as tmp:
            self.engine.save(Path(tmp))
            ckpt.write_state(Path(tmp), self.rank, {"step": self.step, **self.expect})
            metrics = {k.replace("/", "_"): v for k, v in values.items()}
            self.worker.report({"step": self.step, **metrics}, Path(tmp), self.run_dir, self.step)

    def finish(self) -> None:
        """Rank 0 exports the trained policy (models' format) and its manifest."""
        import torch.distributed as dist

        from components.sft.export import export_model

        with self.engine.full_state_context():
            if self.rank == 0:
                for p in self.policy.parameters():  # own storage, not views of DeepSpeed's flat buffers
                    p.data = p.data.clone()
                lineage = {
                    "dataset": self.rows.label,
                    "dataset_sha256": self.expect["dataset_sha256"],
                    "config": self.cfg.source,
                    "mlflow_run_id": self.job["run_id"],
                    "resumed_from": self.job["resume"],
                    "base": self.job["model_uri"],
                    "method": "grpo",
                }
                rewards = {
                    f"last_step_{k.replace('/', '_')}": v
                    for k, v in self.last.items()
                    if k.startswith("reward/") and k.endswith("/mean")
                }
                export_model(self.policy, self.run_dir, self.step, self.cfg.model, lineage, rewards)
        if dist.is_initialized():
            dist.barrier()

    def cleanup(self) -> None:
        if self.rollouts is not None:
            self.rollouts.close()
        if self.sink is not None:
            self.sink.close()
        if self.worker is not None:
            self.worker.close()


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker, and of this process with `launcher: none`."""
    recipe = GRPORecipe(config)
    try:
        recipe.setup()
        recipe.train()
    finally:
        recipe.cleanup()
