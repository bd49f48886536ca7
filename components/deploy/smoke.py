"""Smoke test of a running predictor: ready, then one v1 and one v2 request with a generated image.

from components.deploy.smoke import smoke_test
smoke_test("http://127.0.0.1:8080", "vrt")   # raises RuntimeError saying what failed
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request

from PIL import Image, ImageDraw

QUESTION = "Which shape is closest to the top-left corner?"


def sample_image_b64() -> str:
    """A small PNG with two shapes, base64-encoded."""
    image = Image.new("RGB", (64, 48), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 20, 18), fill=(200, 30, 30))
    draw.ellipse((36, 20, 58, 42), fill=(30, 30, 200))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def post_json(url: str, body: dict, timeout: float = 120.0) -> tuple[int, dict]:
    """POST a JSON body; returns (status, decoded JSON) for 2xx and HTTP errors alike."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_ready(base_url: str, name: str, timeout: float, alive=lambda: True) -> None:
    """Poll `/v2/models/NAME/ready` until 200; `alive()` False (server process gone) fails at once."""
    deadline = time.monotonic() + timeout
    url = f"{base_url}/v2/models/{name}/ready"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the model server exited before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f}s")


def smoke_test(base_url: str, name: str) -> dict:
    """One v1 and one v2 request; returns the v1 prediction. RuntimeError names what is wrong."""
    image = sample_image_b64()
    status, body = post_json(
        f"{base_url}/v1/models/{name}:predict", {"instances": [{"image_b64": image, "question": QUESTION}]}
    )
    predictions = body.get("predictions") if status == 200 else None
    if not predictions or not isinstance(predictions[0].get("text"), str) or "objects" not in predictions[0]:
        raise RuntimeError(f"v1 smoke request failed: HTTP {status} {json.dumps(body)[:300]}")
    v2_body = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "data": [image]},
            {"name": "question", "datatype": "BYTES", "shape": [1], "data": [QUESTION]},
        ]
    }
    status, body = post_json(f"{base_url}/v2/models/{name}/infer", v2_body)
    names = [o.get("name") for o in body.get("outputs", [])] if status == 200 else []
    if names[:3] != ["text", "objects", "timings"]:
        raise RuntimeError(f"v2 smoke request failed: HTTP {status} {json.dumps(body)[:300]}")
    return predictions[0]
