"""The tiny model served by kserve.ModelServer on loopback: v1, v2, 400s for client mistakes, concurrency."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import predictor_server
import pytest
from PIL import Image

from components.deploy.smoke import post_json

pytestmark = pytest.mark.slow
tiny_model_dir, model_server = (
    predictor_server.tiny_model_dir,
    predictor_server.model_server,
)  # module fixtures
MAX_NEW_TOKENS = predictor_server.MAX_NEW_TOKENS


def png_b64(size=(40, 30), seed=0) -> str:
    pixels = (np.random.RandomState(seed).rand(size[1], size[0], 3) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def v2_body(images, questions, **params):
    body = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [len(images)], "data": images},
            {"name": "question", "datatype": "BYTES", "shape": [len(questions)], "data": questions},
        ]
    }
    if params:
        body["parameters"] = params
    return body


@pytest.fixture(scope="module")
def expected(tiny_model_dir):
    """In-process predictions (text, objects) of the same model for the test inputs."""
    from components.deploy.payload import Limits, decode_image, parse_v1
    from components.deploy.response import trace_objects
    from models import RSa2VA

    model = RSa2VA.from_pretrained(tiny_model_dir)
    queries = parse_v1(
        {"instances": [{"image_b64": png_b64(seed=s), "question": f"where is item {s}?"} for s in (0, 1)]},
        Limits(),
    )
    traces = model.predict(
        [decode_image(q) for q in queries],
        [q.question for q in queries],
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
    )
    return [(t.text, trace_objects(t)) for t in traces]


def test_ready_and_v1_matches_in_process(model_server, expected):
    with urllib.request.urlopen(f"{model_server.url}/v2/models/tiny/ready") as r:
        assert json.loads(r.read()) == {"name": "tiny", "ready": True}
    status, body = post_json(
        f"{model_server.url}/v1/models/tiny:predict",
        {
            "instances": [
                {"image_b64": png_b64(seed=0), "question": "where is item 0?"},
                {"image_b64": png_b64(seed=1), "question": "where is item 1?", "overlay": True},
            ]
        },
    )
    assert status == 200
    preds = body["predictions"]
    assert [(p["text"], p["objects"]) for p in preds] == expected
    assert [sorted(p) for p in preds] == [
        ["objects", "text", "timings"],
        ["objects", "overlay_png_b64", "text", "timings"],
    ]
    assert sorted(preds[0]["timings"]) == ["batch_items", "decode_ms", "predict_ms", "queue_ms"]
    assert preds[0]["timings"]["batch_items"] == 2 and preds[0]["timings"]["predict_ms"] > 0
    overlay = Image.open(io.BytesIO(base64.b64decode(preds[1]["overlay_png_b64"])))
    assert (overlay.format, overlay.size) == ("PNG", (40, 30))


def test_v2_matches_in_process(model_server, expected):
    body = v2_body([png_b64(seed=0), png_b64(seed=1)], ["where is item 0?", "where is item 1?"])
    status, out = post_json(f"{model_server.url}/v2/models/tiny/infer", {**body, "id": "req-7"})
    assert status == 200
    assert (out["id"], out["model_name"]) == ("req-7", "tiny")
    outputs = {o["name"]: o for o in out["outputs"]}
    assert sorted(outputs) == ["objects", "text", "timings"]
    assert outputs["text"]["shape"] == outputs["objects"]["shape"] == [2]
    assert list(zip(outputs["text"]["data"], [json.loads(o) for o in outputs["objects"]["data"]])) == expected


IMG = png_b64()
BIG = png_b64((120, 80))  # 9600 px (under 10000) but over 20000 bytes of noise


def solid_png_b64(size) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (9, 9, 9)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


WIDE = solid_png_b64((101, 100))  # small file, too many pixels


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("v1", {"instances": [{"image_b64": "%%%", "question": "q"}]}, "image is not valid base64"),
        (
            "v1",
            {"instances": [{"image_b64": base64.b64encode(b"GIF89a-no").decode(), "question": "q"}]},
            "bytes are not a readable image",
        ),
        ("v1", {"instances": [{"image_b64": IMG, "question": "   "}]}, "question is empty"),
        (
            "v1",
            {"instances": [{"image_b64": IMG, "question": "q" * 51}]},
            "51 characters, over the limit of 50",
        ),
        ("v1", {"instances": [{"image_b64": BIG, "question": "q"}]}, "image is larger than 20000 bytes"),
        (
            "v1",
            {"instances": [{"image_b64": WIDE, "question": "q"}]},
            "101x100 pixels, over the limit of 10000",
        ),
        ("v1", {"instances": [{"image_b64": IMG, "question": "q"}] * 3}, "over the batch limit of 2"),
        ("v1", {"instances": [{"image_b64": IMG}]}, 'lacks "question"'),
        ("v1", {"instances": []}, '"instances" is empty'),
        ("v1", b"{not json", "Unrecognized request format"),
        (
            "v2",
            v2_body([IMG], ["q"])
            | {
                "inputs": [
                    {"name": "image", "datatype": "FP32", "shape": [1], "data": [1.5]},
                    {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["q"]},
                ]
            },
            "datatype BYTES, got FP32",
        ),
        (
            "v2",
            {
                "inputs": [
                    {"name": "image", "datatype": "BYTES", "shape": [2], "data": [IMG]},
                    {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["q"]},
                ]
            },
            "shape [2] with 1",
        ),
        (
            "v2",
            {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [IMG]}]},
            'lacks input "question"',
        ),
        ("v2", {"instances": []}, "malformed request body"),
        ("v2", b"{not json", "malformed request body"),
        ("v2", v2_body([IMG], [""]), "question is empty"),
    ],
)
def test_client_mistakes_get_400(model_server, path, body, message):
    url = (
        f"{model_server.url}/v1/models/tiny:predict"
        if path == "v1"
        else f"{model_server.url}/v2/models/tiny/infer"
    )
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=60)
    assert err.value.code == 400
    assert message in json.loads(err.value.read())["error"]


def test_concurrent_requests(model_server, expected):
    url = f"{model_server.url}/v1/models/tiny:predict"

    def call(i):
        seed = i % 2
        return post_json(
            url, {"instances": [{"image_b64": png_b64(seed=seed), "question": f"where is item {seed}?"}]}
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(16)))
    assert [status for status, _ in results] == [200] * 16
    assert (
        max(body["predictions"][0]["timings"]["batch_items"] for _, body in results) > 1
    )  # requests were merged
    assert [body["predictions"][0]["text"] for _, body in results] == [expected[i % 2][0] for i in range(16)]


def test_unknown_model_is_404(model_server):
    status, body = post_json(f"{model_server.url}/v1/models/nope:predict", {"instances": []})
    assert status == 404 and "nope" in body["error"]
