"""The KServe predictor: one `kserve.Model` subclass serving an R-Sa2VA model over v1 and v2.

`load()` resolves the model URI (directory, s3://, models:/NAME@ALIAS), loads the weights
and only then sets `ready`. preprocess validates (client mistakes -> InvalidInput -> HTTP 400),
predict hands the queries to a MicroBatcher (concurrent requests share one model call in a
worker thread; the event loop stays free), postprocess shapes the v1 dict or v2 InferResponse. Served by components/deploy/server.py.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput

from components.deploy.batcher import MicroBatcher
from components.deploy.loader import resolve_model_dir
from components.deploy.payload import BadRequest, Limits, Query, parse_v1, parse_v2
from components.deploy.response import build_result


@dataclass(frozen=True)
class InferenceConfig:
    """Greedy decoding length (0: the model's own budget, 2048 for the real presets), queries per model
    call (from concurrent requests), device ('auto': CUDA if present)."""

    max_new_tokens: int = 0
    batch_items: int = 8
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, low in (("max_new_tokens", 0), ("batch_items", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


@dataclass
class Batch:
    """One HTTP request: its validated queries, the protocol it came in, and its results."""

    queries: list[Query]
    v2: bool
    request_id: str = ""
    decode_ms: float = 0.0
    results: list[dict] = field(default_factory=list)


class VrtPredictor(Model):
    """Grounded visual reasoning: image + question -> reasoning text and one mask per traced object."""

    def __init__(
        self,
        name: str,
        model_uri: str,
        limits: Limits | None = None,
        inference: InferenceConfig | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(name)
        self.model_uri = model_uri
        self.limits = limits or Limits()
        self.inference = inference or InferenceConfig()
        self.cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="vrt-serve-"))
        self.version = ""
        self._model = None
        self._lock = threading.Lock()
        self._batcher = MicroBatcher(self.infer, self.inference.batch_items)

    def load(self) -> bool:
        import torch

        from models import RSa2VA

        device = self.inference.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model_dir, self.version = resolve_model_dir(self.model_uri, self.cache_dir)
        self._model = RSa2VA.from_pretrained(model_dir).to(device)
        self._model.eval()
        self.ready = True
        return self.ready

    async def preprocess(self, payload: dict | InferRequest, headers: dict[str, str] | None = None) -> Batch:
        start = time.perf_counter()
        try:
            if isinstance(payload, InferRequest):
                batch = Batch(
                    parse_v2(payload, self.limits), v2=True, request_id=payload.id or uuid.uuid4().hex
                )
            else:
                batch = Batch(parse_v1(payload, self.limits), v2=False)
        except BadRequest as e:
            raise InvalidInput(str(e)) from e
        batch.decode_ms = (time.perf_counter() - start) * 1000
        return batch

    def infer(self, queries: list[Query]) -> list[Any]:
        """Run the model on validated queries (thread-safe: one call at a time); one Trace per query."""
        with self._lock:
            return self._model.predict(
                [q.image for q in queries],
                [q.question for q in queries],
                max_new_tokens=self.inference.max_new_tokens,
                do_sample=False,
                batch_size=self.inference.batch_items,
            )

    async def predict(self, batch: Batch, headers: dict[str, str] | None = None) -> Batch:
        traces, info = await self._batcher.submit(batch.queries)
        timings = {
            "decode_ms": round(batch.decode_ms, 3),
            "queue_ms": info.queue_ms,
            "predict_ms": info.run_ms,
            "batch_items": info.batch_items,
        }
        batch.results = [
            build_result(t, q.image, q.overlay, timings) for t, q in zip(traces, batch.queries, strict=True)
        ]
        return batch

    async def postprocess(
        self,
        batch: Batch,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        if not batch.v2:
            return {"predictions": batch.results}
        n = len(batch.results)
        outputs = [
            InferOutput("text", [n], "BYTES", [r["text"] for r in batch.results]),
            InferOutput("objects", [n], "BYTES", [json.dumps(r["objects"]) for r in batch.results]),
            InferOutput("timings", [n], "BYTES", [json.dumps(r["timings"]) for r in batch.results]),
        ]
        if any(q.overlay for q in batch.queries):
            outputs.append(
                InferOutput("overlay_png_b64", [n], "BYTES", [r["overlay_png_b64"] for r in batch.results])
            )
        return InferResponse(batch.request_id, self.name, outputs, model_version=self.version or None)
