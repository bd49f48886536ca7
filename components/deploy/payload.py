"""Request parsing and validation for the predictor (KServe v1 and v2 protocols); no kserve import.

Every client mistake raises `BadRequest` (a ValueError) whose message says what is wrong and
how to fix it; the predictor turns it into HTTP 400.

    v1: {"instances": [{"image_b64": "<base64 PNG/JPEG>", "question": "...", "overlay": false}]}
    v2: {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["<base64>"]},
                    {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["..."]}],
         "parameters": {"overlay": false}}
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # decoders a client may reach (no EPS, PSD, ...)


class BadRequest(ValueError):
    """A client mistake in a request (HTTP 400)."""


@dataclass(frozen=True)
class Limits:
    """Request limits of the server. `max_image_side` is the model preset's; the predictor sets it at load."""

    max_image_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_question_chars: int = 2000
    max_batch: int = 8
    max_image_side: int = 4096
    max_aspect_ratio: int = 200

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")

    def max_body_bytes(self) -> int:
        """Largest legitimate request body: every image at the byte limit, base64-encoded, plus JSON slack."""
        per_item = self.max_image_bytes * 4 // 3 + 4 + self.max_question_chars * 12 + 1024
        return self.max_batch * per_item + 64 * 1024


@dataclass(frozen=True)
class Query:
    """One validated request item: the encoded image and its header size (not decoded yet), question, overlay."""

    raw: bytes
    width: int
    height: int
    question: str
    overlay: bool = False

    def decoded_bytes(self) -> int:
        """Memory its pixels take once decoded (RGB), twice that when an overlay is drawn."""
        return self.width * self.height * 3 * (2 if self.overlay else 1)


def _image_bytes(data: str | bytes, limits: Limits, where: str) -> bytes:
    if not isinstance(data, str | bytes) or not data:
        raise BadRequest(f"{where}: image must be a non-empty base64 string")
    if len(data) > limits.max_image_bytes * 4 // 3 + 4:
        raise BadRequest(
            f"{where}: image is larger than {limits.max_image_bytes} bytes; downscale or recompress it"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"{where}: image is not valid base64; send base64.b64encode(file bytes)") from e
    if not raw:
        raise BadRequest(f"{where}: image must be a non-empty base64 string")
    if len(raw) > limits.max_image_bytes:
        raise BadRequest(f"{where}: image is {len(raw)} bytes, over the limit of {limits.max_image_bytes}")
    return raw


def _check_size(width: int, height: int, limits: Limits, where: str) -> None:
    if width < 1 or height < 1:
        raise BadRequest(f"{where}: image is {width}x{height} pixels; it must not be empty")
    if width * height > limits.max_pixels:
        raise BadRequest(
            f"{where}: image is {width}x{height} pixels, over the limit of {limits.max_pixels}; downscale it"
        )
    if max(width, height) > limits.max_image_side:
        raise BadRequest(
            f"{where}: image is {width}x{height}, over the model's limit of {limits.max_image_side} px per "
            "side; downscale it"
        )
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise BadRequest(
            f"{where}: image is {width}x{height}, an aspect ratio over {limits.max_aspect_ratio}; crop or pad it"
        )


def probe_image(data: str | bytes, limits: Limits, where: str) -> tuple[bytes, int, int]:
    """Base64 text -> (encoded bytes, width, height), read from the image header only (no pixel decode)."""
    raw = _image_bytes(data, limits, where)
    try:
        with Image.open(io.BytesIO(raw), formats=FORMATS) as probe:
            width, height = probe.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadRequest(f"{where}: bytes are not a readable image; send PNG or JPEG") from e
    _check_size(width, height, limits, where)
    return raw, width, height


def decode_image(query: Query, where: str = "image") -> Image.Image:
    """Decode a probed query's pixels as RGB (call off the event loop: this is the costly part)."""
    try:
        with Image.open(io.BytesIO(query.raw), formats=FORMATS) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
        raise BadRequest(f"{where}: image data is damaged or truncated; send a complete PNG or JPEG") from e


def check_question(question: Any, limits: Limits, where: str, forbidden: tuple[str, ...] = ()) -> str:
    """The question as text; `forbidden` are model tokens (chat control, [SEG]) a client may not send."""
    if isinstance(question, bytes):
        try:
            question = question.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadRequest(f"{where}: question is not UTF-8 text") from e
    if not isinstance(question, str):
        raise BadRequest(f"{where}: question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise BadRequest(f"{where}: question is empty; ask something about the image")
    if len(question) > limits.max_question_chars:
        raise BadRequest(
            f"{where}: question has {len(question)} characters, over the limit of {limits.max_question_chars}"
        )
    if "\x00" in question:
        raise BadRequest(f"{where}: question contains a NUL character; send plain text")
    for token in forbidden:
        if token in question:
            raise BadRequest(
                f"{where}: question contains the model token {token}, which is not allowed; remove it"
            )
    return question


def _check_batch(n: int, limits: Limits, what: str) -> None:
    if n == 0:
        raise BadRequest(f"{what} is empty; send at least one image + question")
    if n > limits.max_batch:
        raise BadRequest(
            f"{what} has {n} items, over the batch limit of {limits.max_batch}; split the request"
        )


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{where}: overlay must be true or false, got {value!r}")
    return value


def model_tokens(tokenizer: Any) -> tuple[str, ...]:
    """Every special token of the tokenizer (chat control, vision, [SEG]): none may appear in a question."""
    special = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    return tuple(sorted(special | set(tokenizer.all_special_tokens)))


def parse_v1(body: Any, limits: Limits, forbidden: tuple[str, ...] = ()) -> list[Query]:
    """`{"instances": [{"image_b64", "question", "overlay"?}]}` -> queries."""
    if not isinstance(body, dict) or "instances" not in body:
        raise BadRequest(
            'v1 body must be a JSON object with "instances": [{"image_b64": ..., "question": ...}]'
        )
    instances = body["instances"]
    if not isinstance(instances, list):
        raise BadRequest('"instances" must be a list')
    _check_batch(len(instances), limits, '"instances"')
    queries = []
    for i, item in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f'{where} must be an object with "image_b64" and "question"')
        unknown = sorted(set(item) - {"image_b64", "question", "overlay"})
        if unknown:
            raise BadRequest(f"{where} has unknown field(s) {unknown}; allowed: image_b64, question, overlay")
        for key in ("image_b64", "question"):
            if key not in item:
                raise BadRequest(f'{where} lacks "{key}"')
        question = check_question(item["question"], limits, where, forbidden)
        raw, width, height = probe_image(item["image_b64"], limits, where)
        queries.append(Query(raw, width, height, question, _flag(item.get("overlay", False), where)))
    return queries


def _v2_strings(inputs: dict[str, Any], name: str) -> list:
    if name not in inputs:
        raise BadRequest(
            f'v2 request lacks input "{name}" (BYTES, shape [N]); inputs are "image" and "question"'
        )
    tensor = inputs[name]
    if tensor.datatype != "BYTES":
        raise BadRequest(f'input "{name}" must have datatype BYTES, got {tensor.datatype}')
    data, shape = tensor.data, list(tensor.shape or [])
    if len(shape) != 1 or not isinstance(data, list) or len(data) != shape[0]:
        count = len(data) if isinstance(data, list) else "non-list"
        raise BadRequest(
            f'input "{name}" must have shape [N] matching its data; got shape {shape} with {count} items'
        )
    if not all(isinstance(d, str | bytes) for d in data):
        raise BadRequest(f'input "{name}" data must be strings (base64 for "image")')
    return data


def parse_v2(request: Any, limits: Limits, forbidden: tuple[str, ...] = ()) -> list[Query]:
    """An InferRequest-like object (`.inputs` with name/datatype/shape/data, `.parameters`) -> queries."""
    inputs = {t.name: t for t in request.inputs}
    unknown = sorted(set(inputs) - {"image", "question"})
    if unknown:
        raise BadRequest(f'unknown input(s) {unknown}; the inputs are "image" and "question"')
    images, questions = _v2_strings(inputs, "image"), _v2_strings(inputs, "question")
    if len(images) != len(questions):
        raise BadRequest(f'inputs "image" ({len(images)}) and "question" ({len(questions)}) differ in length')
    _check_batch(len(images), limits, "v2 request")
    parameters = request.parameters or {}
    if not isinstance(parameters, dict):
        raise BadRequest('"parameters" must be an object, e.g. {"overlay": true}')
    overlay = _flag(parameters.get("overlay", False), "parameters")
    queries = []
    for i, (img, q) in enumerate(zip(images, questions, strict=True)):
        question = check_question(q, limits, f"question[{i}]", forbidden)
        queries.append(Query(*probe_image(img, limits, f"image[{i}]"), question, overlay))
    return queries
