"""Hostile-client helpers shared by the server robustness tests and benchmarks/serve_robustness.py.

Requests are sent raw (http.client or a socket) so that malformed heads and bodies reach the server
exactly as written; `KINDS` is the malformed-request table: (kind, request, status, message).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import struct
import time
from dataclasses import dataclass, field

from hypothesis import strategies as st
from PIL import Image


@dataclass(frozen=True)
class Raw:
    """One HTTP request as sent: method, path, headers, body (bytes)."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def png_bytes(size: tuple[int, int], colour: tuple[int, int, int] = (9, 9, 9)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def png_b64(size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (9, 9, 9)) -> str:
    return base64.b64encode(png_bytes(size, colour)).decode()


def v1(instances: list, model: str = "tiny") -> Raw:
    return Raw("POST", f"/v1/models/{model}:predict", json.dumps({"instances": instances}).encode())


def v2(images: list, questions: list, model: str = "tiny", **extra) -> Raw:
    body = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [len(images)], "data": images},
            {"name": "question", "datatype": "BYTES", "shape": [len(questions)], "data": questions},
        ],
        **extra,
    }
    return Raw("POST", f"/v2/models/{model}/infer", json.dumps(body).encode())


def v2_binary_image(raw_image: bytes, declared: int | None = None, model: str = "tiny") -> Raw:
    """A v2 binary-extension request whose image tensor carries `raw_image` as its BYTES element."""
    tensor = struct.pack("<I", len(raw_image)) + raw_image
    head = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": len(tensor) if declared is None else declared},
            },
            {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["where?"]},
        ]
    }
    head_bytes = json.dumps(head).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head_bytes)),
    }
    return Raw("POST", f"/v2/models/{model}/infer", head_bytes + tensor, headers)


def send(base_url: str, request: Raw, timeout: float = 60.0) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of one request."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def send_raw(base_url: str, data: bytes, pause_s: float = 0.0, timeout: float = 30.0) -> bytes:
    """Write `data` on a fresh socket (then wait `pause_s` without sending more); the server's reply bytes."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        time.sleep(pause_s)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP reply (0 when the server closed without one)."""
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


MODEL_TOKENS = ("<|image_pad|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "[SEG]", "<|endoftext|>")
IMG = png_b64()
TRUNCATED = base64.b64encode(png_bytes((60, 60), (1, 200, 3))[:70]).decode()


def kinds(max_header_bytes: int) -> list[tuple[str, Raw, int, str]]:
    """The malformed-request table against the `tiny` server of test_server_hostile.py (its ARGS)."""
    table = []
    for token in MODEL_TOKENS:
        table.append((f"v1 {token}", v1([{"image_b64": IMG, "question": f"a {token} b"}]), 400, token))
        table.append((f"v2 {token}", v2([IMG], [f"{token}x"]), 400, token))
    table += [
        (
            "aspect 201:1",
            v1([{"image_b64": png_b64((201, 1)), "question": "q"}]),
            400,
            "aspect ratio over 200",
        ),
        (
            "side over preset",
            v1([{"image_b64": png_b64((1025, 2)), "question": "q"}]),
            400,
            "limit of 1024 px",
        ),
        ("truncated png", v1([{"image_b64": TRUNCATED, "question": "q"}]), 400, "damaged or truncated"),
        ("zero-byte image", v1([{"image_b64": "", "question": "q"}]), 400, "non-empty base64"),
        ("json null", Raw("POST", "/v1/models/tiny:predict", b"null"), 400, "v1 body must be"),
        ("json list", Raw("POST", "/v1/models/tiny:predict", b"[1]"), 400, "v1 body must be"),
        ("not json", Raw("POST", "/v1/models/tiny:predict", b"\xff\xfe"), 400, "Unrecognized request format"),
        ("v2 no inputs", Raw("POST", "/v2/models/tiny/infer", b'{"x": 1}'), 400, "malformed request body"),
        ("v2 parameters list", v2([IMG], ["q"], parameters=["overlay"]), 400, "malformed request body"),
        ("v2 raw image bytes", v2_binary_image(png_bytes((8, 8))), 400, "raw image bytes are not accepted"),
        ("v2 binary size lies", v2_binary_image(b"abc", declared=2), 400, "malformed v2 request"),
        ("v2 numbers as image", v2([1.5], ["q"]), 400, "data must be strings"),
        (
            "no content-type",
            Raw("POST", "/v1/models/tiny:predict", v1([{"image_b64": IMG, "question": "q" * 60}]).body, {}),
            400,
            "over the limit of 50",
        ),
        (
            "form content-type",
            Raw(
                "POST",
                "/v1/models/tiny:predict",
                v1([{"image_b64": IMG, "question": "q" * 60}]).body,
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            400,
            "over the limit of 50",
        ),
        ("repository unload", Raw("POST", "/v2/repository/models/tiny/unload"), 404, "disabled"),
        ("repository load", Raw("POST", "/v2/repository/models/tiny/load"), 404, "disabled"),
        ("unknown model", v1([{"image_b64": IMG, "question": "q"}], model="nope"), 404, "nope"),
        (
            "over pixel budget",
            v1([{"image_b64": png_b64((1024, 1024)), "question": "q", "overlay": True}] * 8),
            413,
            "over the server's budget",
        ),
        (
            "over pixel limit",
            v1([{"image_b64": png_b64((4096, 4096)), "question": "q"}]),
            400,
            "4096x4096 pixels, over the limit",
        ),
        (
            "content-length over limit",
            Raw("POST", "/v1/models/tiny:predict", b"{}", {"Content-Length": str(10**12)}),
            413,
            "request body is 1000000000000 bytes",
        ),
        (
            "head over limit",
            Raw("GET", "/v2/models/tiny/ready", b"", {"X-Pad": "a" * (max_header_bytes + 10)}),
            431,
            f"request head is over {max_header_bytes} bytes",
        ),
    ]
    return table


def leaks_internals(body: bytes) -> bool:
    """True when an error body names an exception class, a traceback or a file path."""
    text = body.decode(errors="replace")
    return any(s in text for s in ("Traceback", 'File "', ".py", "Error :", "Exception", "/work/", "/tmp/"))


QUESTIONS = st.one_of(
    st.text(max_size=60),
    st.sampled_from(MODEL_TOKENS).map(lambda t: f"where {t}?"),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
IMAGES = st.one_of(
    st.tuples(st.integers(1, 120), st.integers(1, 120)).map(png_b64),
    st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=30),
    st.just(TRUNCATED),
)
JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
)


@st.composite
def valid(draw) -> Raw:
    """A well-formed v1 or v2 request (1-2 small PNGs, a plain question, overlay on or off)."""
    n = draw(st.integers(1, 2))
    images = [png_b64(draw(st.tuples(st.integers(8, 64), st.integers(8, 64)))) for _ in range(n)]
    questions = [draw(st.text("abcdefghij ?", min_size=1, max_size=40).filter(str.strip)) for _ in range(n)]
    overlay = draw(st.booleans())
    if draw(st.booleans()):
        return v1([{"image_b64": i, "question": q, "overlay": overlay} for i, q in zip(images, questions)])
    return v2(images, questions, parameters={"overlay": overlay})


@st.composite
def mutated(draw) -> Raw:
    """A v1/v2 request with one or two parts replaced by something plausible but wrong."""
    n = draw(st.integers(0, 3))
    images = [draw(IMAGES) for _ in range(n)]
    questions = [draw(QUESTIONS) for _ in range(n)]
    if draw(st.booleans()):
        item = lambda i, q: {"image_b64": i, "question": q, "overlay": draw(st.one_of(st.booleans(), JUNK))}
        instances = [item(i, q) for i, q in zip(images, questions)]
        if instances and draw(st.booleans()):
            instances[0][draw(st.sampled_from(["image_b64", "question", "overlay", "extra"]))] = draw(JUNK)
        return v1(instances)
    extra = {"parameters": {"overlay": draw(st.one_of(st.booleans(), JUNK))}} if draw(st.booleans()) else {}
    request = v2(images, questions[: draw(st.integers(0, n))] if draw(st.booleans()) else questions, **extra)
    if draw(st.booleans()):
        body = json.loads(request.body)
        body["inputs"][draw(st.integers(0, 1))][
            draw(st.sampled_from(["datatype", "shape", "data", "name"]))
        ] = draw(JUNK)
        request = Raw(request.method, request.path, json.dumps(body).encode())
    return request


def near_valid() -> st.SearchStrategy[Raw]:
    """Mutated requests, with well-formed ones (run by the model, so slower) about one in four."""
    return st.one_of(valid(), mutated(), mutated(), mutated())
