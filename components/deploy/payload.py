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


class BadRequest(ValueError):
    """A client mistake in a request (HTTP 400)."""


@dataclass(frozen=True)
class Limits:
    """Request limits of the server."""

    max_image_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_question_chars: int = 2000
    max_batch: int = 8

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class Query:
    """One validated request item."""

    image: Image.Image
    question: str
    overlay: bool = False


def decode_image(data: str | bytes, limits: Limits, where: str) -> Image.Image:
    """Base64 text -> RGB image, within the byte and pixel limits."""
    if not isinstance(data, str | bytes) or not data:
        raise BadRequest(f"{where}: image must be a non-empty base64 string")
    if len(data) > limits.max_image_bytes * 4 // 3 + 4:
        raise BadRequest(
            f"{where}: image is larger than {limits.max_image_bytes} bytes; downscale or recompress it"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(
            f"{where}: image is not valid base64 ({e}); send base64.b64encode(file bytes)"
        ) from e
    if len(raw) > limits.max_image_bytes:
        raise BadRequest(f"{where}: image is {len(raw)} bytes, over the limit of {limits.max_image_bytes}")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            width, height = probe.size
            if width * height > limits.max_pixels:
                raise BadRequest(
                    f"{where}: image is {width}x{height} pixels, over the limit of {limits.max_pixels}; "
                    "downscale it"
                )
            probe.load()
            return probe.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise BadRequest(
            f"{where}: bytes are not a readable image ({e.__class__.__name__}); send PNG or JPEG"
        ) from e


def check_question(question: Any, limits: Limits, where: str) -> str:
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


def parse_v1(body: Any, limits: Limits) -> list[Query]:
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
        question = check_question(item["question"], limits, where)
        image = decode_image(item["image_b64"], limits, where)
        queries.append(Query(image, question, _flag(item.get("overlay", False), where)))
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


def parse_v2(request: Any, limits: Limits) -> list[Query]:
    """An InferRequest-like object (`.inputs` with name/datatype/shape/data, `.parameters`) -> queries."""
    inputs = {t.name: t for t in request.inputs}
    unknown = sorted(set(inputs) - {"image", "question"})
    if unknown:
        raise BadRequest(f'unknown input(s) {unknown}; the inputs are "image" and "question"')
    images, questions = _v2_strings(inputs, "image"), _v2_strings(inputs, "question")
    if len(images) != len(questions):
        raise BadRequest(f'inputs "image" ({len(images)}) and "question" ({len(questions)}) differ in length')
    _check_batch(len(images), limits, "v2 request")
    overlay = _flag((request.parameters or {}).get("overlay", False), "parameters")
    return [
        Query(decode_image(img, limits, f"image[{i}]"), check_question(q, limits, f"question[{i}]"), overlay)
        for i, (img, q) in enumerate(zip(images, questions, strict=True))
    ]
