"""The KServe predictor: one `kserve.Model` subclass serving an R-Sa2VA model over v1 and v2.

`load()` resolves the model URI (directory, s3://, models:/NAME@ALIAS), loads the weights
and only then sets `ready`. preprocess validates in a worker thread: structure, base64, image
size from the header only, and no model token in a question (client mistakes -> InvalidInput
-> HTTP 400). predict reserves the decoded-pixel budget (budget.py: queue, then 503), decodes
in a worker thread, hands the queries to a MicroBatcher (concurrent requests share one model
call in a worker thread) and builds results and overlays in a worker thread: the event loop
only routes. postprocess shapes the v1 dict or v2 InferResponse. A model failure fails only
its own request, with a 500 that names no exception. Served by components/deploy/server.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InferenceError, InvalidInput

from components.deploy.batcher import MicroBatcher, ModelFailure
from components.deploy.budget import PixelBudget
from components.deploy.loader import resolve_model_dir
from components.deploy.payload import (
    BadRequest,
    Limits,
    Query,
    decode_image,
    model_tokens,
    parse_v1,
    parse_v2,
)
from components.deploy.response import build_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceConfig:
    """Greedy decoding length (0: the model's own budget, 2048 for the real presets), queries per model
    call (from concurrent requests), device ('auto': CUDA if present), decoded-pixel bytes in flight and
    how long a request may wait for room in them."""

    max_new_tokens: int = 0
    batch_items: int = 8
    device: str = "auto"
    pixel_budget_bytes: int = 768 * 1024 * 1024
    budget_wait_s: float = 5.0

    def __post_init__(self) -> None:
        for name, low in (("max_new_tokens", 0), ("batch_items", 1), ("pixel_budget_bytes", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if not 0 <= self.budget_wait_s <= 600:
            raise ValueError(f"budget_wait_s must be within 0..600 seconds, got {self.budget_wait_s!r}")


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
        self._forbidden: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._batcher = MicroBatcher(self.infer, self.inference.batch_items)
        self.budget = PixelBudget(self.inference.pixel_budget_bytes, self.inference.budget_wait_s)

    def load(self) -> bool:
        import torch

        from models import RSa2VA

        device = self.inference.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model_dir, self.version = resolve_model_dir(self.model_uri, self.cache_dir)
        self._model = RSa2VA.from_pretrained(model_dir).to(device)
        self._model.eval()
        self._forbidden = model_tokens(self._model.processor.tokenizer)
        side = min(self.limits.max_image_side, self._model.processor.settings.max_image_side)
        self.limits = dataclasses.replace(self.limits, max_image_side=side)
        self.ready = True
        return self.ready

    async def preprocess(self, payload: dict | InferRequest, headers: dict[str, str] | None = None) -> Batch:
        v2 = isinstance(payload, InferRequest)
        try:
            if v2:
                queries = await asyncio.to_thread(parse_v2, payload, self.limits, self._forbidden)
                return Batch(queries, v2=True, request_id=payload.id or uuid.uuid4().hex)
            return Batch(await asyncio.to_thread(parse_v1, payload, self.limits, self._forbidden), v2=False)
        except BadRequest as e:
            raise InvalidInput(str(e)) from e

    def infer(self, items: list[tuple[Any, str]]) -> list[Any]:
        """Run the model on (image, question) items (thread-safe: one call at a time); one Trace per item."""
        with self._lock:
            return self._model.predict(
                [image for image, _ in items],
                [question for _, question in items],
                max_new_tokens=self.inference.max_new_tokens,
                do_sample=False,
                batch_size=self.inference.batch_items,
            )

    async def predict(self, batch: Batch, headers: dict[str, str] | None = None) -> Batch:
        async with self.budget.reserve(sum(q.decoded_bytes() for q in batch.queries)):
            start = time.perf_counter()
            try:
                images = await asyncio.to_thread(
                    lambda: [decode_image(q, f"image[{i}]") for i, q in enumerate(batch.queries)]
                )
            except BadRequest as e:
                raise InvalidInput(str(e)) from e
            batch.decode_ms = (time.perf_counter() - start) * 1000
            try:
                traces, info = await self._batcher.submit(
                    list(zip(images, [q.question for q in batch.queries], strict=True))
                )
            except ModelFailure as e:
                log.error("model failed on request %s", batch.request_id or "(v1)", exc_info=e.cause)
                raise InferenceError(
                    "the model failed on this request; the server log has the details"
                ) from None
            timings = {
                "decode_ms": round(batch.decode_ms, 3),
                "queue_ms": info.queue_ms,
                "predict_ms": info.run_ms,
                "batch_items": info.batch_items,
            }
            batch.results = await asyncio.to_thread(
                lambda: [
                    build_result(t, image, q.overlay, timings)
                    for t, image, q in zip(traces, images, batch.queries, strict=True)
                ]
            )
        return batch

    def get_input_types(self) -> list[dict]:
        return [
            {"name": "image", "datatype": "BYTES", "shape": [-1]},  # base64 PNG or JPEG, one per item
            {"name": "question", "datatype": "BYTES", "shape": [-1]},  # UTF-8 text, one per item
        ]  # request parameters (optional): {"overlay": bool}

    def get_output_types(self) -> list[dict]:
        return [  # objects and timings are JSON text; overlay_png_b64 only when overlay=true
            {"name": name, "datatype": "BYTES", "shape": [-1]}
            for name in ("text", "objects", "timings", "overlay_png_b64")
        ]

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
