"""Request parsing (v1/v2) and response shaping of the predictor, without a server."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from components.deploy.payload import BadRequest, Limits, parse_v1, parse_v2
from components.deploy.response import build_result, trace_objects

LIMITS = Limits(max_image_bytes=4000, max_pixels=64 * 64, max_question_chars=20, max_batch=2)


def png_b64(size=(16, 12), colour=(1, 2, 3)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def tensor(name, data, datatype="BYTES", shape=None):
    return SimpleNamespace(
        name=name, datatype=datatype, shape=[len(data)] if shape is None else shape, data=data
    )


def test_parse_v1_ok():
    queries = parse_v1(
        {
            "instances": [
                {"image_b64": png_b64(), "question": "what?", "overlay": True},
                {"image_b64": png_b64((5, 7)), "question": "why?"},
            ]
        },
        LIMITS,
    )
    assert [(q.image.size, q.image.mode, q.question, q.overlay) for q in queries] == [
        ((16, 12), "RGB", "what?", True),
        ((5, 7), "RGB", "why?", False),
    ]


def test_parse_v2_ok():
    request = SimpleNamespace(
        inputs=[tensor("question", ["a?"]), tensor("image", [png_b64().encode()])],
        parameters={"overlay": True},
    )
    [query] = parse_v2(request, LIMITS)
    assert (query.image.size, query.question, query.overlay) == ((16, 12), "a?", True)


NOISE = base64.b64encode(np.random.RandomState(0).bytes(3000)).decode()
BIG_PNG = png_b64((65, 64))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], 'v1 body must be a JSON object with "instances"'),
        ({"instances": {}}, '"instances" must be a list'),
        ({"instances": []}, '"instances" is empty'),
        (
            {"instances": [{"image_b64": png_b64(), "question": "q"}] * 3},
            "3 items, over the batch limit of 2",
        ),
        ({"instances": ["x"]}, "instances[0] must be an object"),
        ({"instances": [{"image_b64": png_b64()}]}, 'instances[0] lacks "question"'),
        ({"instances": [{"question": "q"}]}, 'instances[0] lacks "image_b64"'),
        ({"instances": [{"image_b64": png_b64(), "question": "q", "x": 1}]}, "unknown field(s) ['x']"),
        ({"instances": [{"image_b64": "abc$", "question": "q"}]}, "image is not valid base64"),
        ({"instances": [{"image_b64": NOISE, "question": "q"}]}, "bytes are not a readable image"),
        ({"instances": [{"image_b64": NOISE * 2, "question": "q"}]}, "larger than 4000 bytes"),
        ({"instances": [{"image_b64": BIG_PNG, "question": "q"}]}, "65x64 pixels, over the limit of 4096"),
        ({"instances": [{"image_b64": "", "question": "q"}]}, "image must be a non-empty base64 string"),
        ({"instances": [{"image_b64": png_b64(), "question": " \n"}]}, "question is empty"),
        (
            {"instances": [{"image_b64": png_b64(), "question": "q" * 21}]},
            "21 characters, over the limit of 20",
        ),
        ({"instances": [{"image_b64": png_b64(), "question": 5}]}, "question must be a string, got int"),
        (
            {"instances": [{"image_b64": png_b64(), "question": "q", "overlay": "yes"}]},
            "overlay must be true or false",
        ),
    ],
)
def test_parse_v1_errors(body, message):
    with pytest.raises(BadRequest) as err:
        parse_v1(body, LIMITS)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("inputs", "parameters", "message"),
    [
        ([tensor("image", [png_b64()])], None, 'lacks input "question"'),
        ([tensor("question", ["q"])], None, 'lacks input "image"'),
        ([tensor("image", [1.0], "FP32"), tensor("question", ["q"])], None, "datatype BYTES, got FP32"),
        (
            [tensor("image", [png_b64()], shape=[2]), tensor("question", ["q"])],
            None,
            "shape [2] with 1 items",
        ),
        ([tensor("image", [png_b64()], shape=[1, 1]), tensor("question", ["q"])], None, "shape [1, 1]"),
        ([tensor("image", [png_b64()] * 2), tensor("question", ["q"])], None, "differ in length"),
        ([tensor("image", [3]), tensor("question", ["q"])], None, "data must be strings"),
        (
            [tensor("image", [png_b64()]), tensor("question", ["q"]), tensor("extra", ["x"])],
            None,
            "unknown input(s)",
        ),
        (
            [tensor("image", [png_b64()]), tensor("question", [b"\xff"])],
            None,
            "question[0]: question is not UTF-8",
        ),
        (
            [tensor("image", [png_b64()]), tensor("question", ["q"])],
            {"overlay": 1},
            "overlay must be true or false",
        ),
        ([tensor("image", []), tensor("question", [])], None, "v2 request is empty"),
    ],
)
def test_parse_v2_errors(inputs, parameters, message):
    with pytest.raises(BadRequest) as err:
        parse_v2(SimpleNamespace(inputs=inputs, parameters=parameters), LIMITS)
    assert message in str(err.value)


def test_limits_validation():
    with pytest.raises(ValueError, match="max_batch must be a positive integer"):
        Limits(max_batch=0)


def make_trace():
    from pycocotools import mask as mask_utils

    masks = []
    for box in ((1, 4, 2, 7), (0, 2, 0, 3), (4, 6, 6, 8)):
        grid = np.zeros((6, 8), dtype=np.uint8, order="F")
        grid[box[0] : box[1], box[2] : box[3]] = 1
        rle = mask_utils.encode(grid)
        masks.append({"size": rle["size"], "counts": rle["counts"].decode()})
    text = "<think>a [SEG]</think><answer>b [SEG]</answer> [SEG]"
    return SimpleNamespace(
        text=text,
        seg_positions=(9, 32, 47),
        roles=("reasoning", "answer", "dropped"),
        masks=tuple(masks),
        scores=(0.9, 0.5, 0.1),
    )


def test_trace_objects_exact():
    objects = trace_objects(make_trace())
    assert [(o["role"], o["bbox"], o["score"], o["span"]) for o in objects] == [
        ("reasoning", [2.0, 1.0, 5.0, 3.0], 0.9, [9, 14]),
        ("answer", [0.0, 0.0, 3.0, 2.0], 0.5, [32, 37]),
    ]
    assert make_trace().text[9:14] == "[SEG]" and make_trace().text[32:37] == "[SEG]"
    assert objects[0]["mask"] == {"size": [6, 8], "counts": make_trace().masks[0]["counts"]}


def test_overlay_tints_only_masked_pixels():
    image = Image.new("RGB", (8, 6), (0, 0, 0))
    result = build_result(make_trace(), image, overlay=True, timings={"predict_ms": 1.0})
    assert set(result) == {"text", "objects", "timings", "overlay_png_b64"}
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["overlay_png_b64"]))))
    assert pixels.shape == (6, 8, 3)
    assert pixels[2, 3].tolist() == [128, 85, 0]  # reasoning mask: half orange
    assert pixels[0, 0].tolist() == [0, 80, 128]  # answer mask: half blue
    assert pixels[5, 0].tolist() == [0, 0, 0]  # outside every mask
    assert pixels[5, 7].tolist() == [0, 0, 0]  # the dropped mask is not drawn
    assert "overlay_png_b64" not in build_result(make_trace(), image, overlay=False, timings={})
