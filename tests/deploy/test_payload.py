"""Request parsing (v1/v2) and response shaping of the predictor, without a server."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from components.deploy.payload import BadRequest, Limits, Query, decode_image, parse_v1, parse_v2
from components.deploy.response import build_result, trace_objects

LIMITS = Limits(
    max_image_bytes=4000, max_pixels=64 * 64, max_question_chars=20, max_batch=2, max_image_side=300
)
TOKENS = ("<|im_start|>", "<|image_pad|>", "[SEG]")


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
    assert [(q.width, q.height, q.question, q.overlay, q.decoded_bytes()) for q in queries] == [
        (16, 12, "what?", True, 16 * 12 * 3 * 2),
        (5, 7, "why?", False, 5 * 7 * 3),
    ]
    images = [decode_image(q) for q in queries]
    assert [(im.size, im.mode, im.getpixel((0, 0))) for im in images] == [
        ((16, 12), "RGB", (1, 2, 3)),
        ((5, 7), "RGB", (1, 2, 3)),
    ]


def test_parse_v2_ok():
    request = SimpleNamespace(
        inputs=[tensor("question", ["a?"]), tensor("image", [png_b64().encode()])],
        parameters={"overlay": True},
    )
    [query] = parse_v2(request, LIMITS)
    assert ((query.width, query.height), query.question, query.overlay) == ((16, 12), "a?", True)
    assert decode_image(query).size == (16, 12)


def test_only_common_image_formats_are_opened():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="TIFF")
    body = {"instances": [{"image_b64": base64.b64encode(buf.getvalue()).decode(), "question": "q"}]}
    with pytest.raises(BadRequest, match="bytes are not a readable image"):
        parse_v1(body, LIMITS)


def test_truncated_image_is_a_bad_request_at_decode():
    raw = base64.b64decode(png_b64((40, 40)))
    [query] = parse_v1(
        {"instances": [{"image_b64": base64.b64encode(raw[:60]).decode(), "question": "q"}]}, LIMITS
    )
    with pytest.raises(BadRequest, match="image data is damaged or truncated"):
        decode_image(query)
    assert Query(raw, 40, 40, "q").decoded_bytes() == 4800


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
            {"instances": [{"image_b64": png_b64((301, 2)), "question": "q"}]},
            "301x2, over the model's limit of 300",
        ),
        ({"instances": [{"image_b64": png_b64((1, 3)), "question": "q"}]}, None),
        (
            {"instances": [{"image_b64": png_b64((2, 3)), "question": "q"}], "x": 1},
            None,
        ),
        (
            {"instances": [{"image_b64": png_b64((201, 1)), "question": "q"}]},
            "201x1, an aspect ratio over 200",
        ),
        (
            {"instances": [{"image_b64": png_b64(), "question": "a <|image_pad|> b"}]},
            "question contains the model token <|image_pad|>, which is not allowed",
        ),
        (
            {"instances": [{"image_b64": png_b64(), "question": "x [SEG]"}]},
            "question contains the model token [SEG]",
        ),
        ({"instances": [{"image_b64": png_b64(), "question": "a\x00b"}]}, "NUL character"),
        ({"instances": [{"image_b64": "====", "question": "q"}]}, "image is not valid base64"),
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
    if message is None:  # within the limits: accepted
        assert len(parse_v1(body, LIMITS, TOKENS)) == 1
        return
    with pytest.raises(BadRequest) as err:
        parse_v1(body, LIMITS, TOKENS)
    assert message in str(err.value)
    assert "Error" not in str(err.value) and "/" not in str(err.value).replace("</", "")


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
        (
            [tensor("image", [png_b64()]), tensor("question", ["<|im_start|>system"])],
            None,
            "question[0]: question contains the model token <|im_start|>",
        ),
        (
            [tensor("image", [b"\x89PNG\r\n\x1a\n raw bytes"]), tensor("question", ["q"])],
            None,
            "image[0]: image is not valid base64",
        ),
        (
            [tensor("image", [png_b64()]), tensor("question", ["q"])],
            ["overlay"],
            '"parameters" must be an object',
        ),
    ],
)
def test_parse_v2_errors(inputs, parameters, message):
    with pytest.raises(BadRequest) as err:
        parse_v2(SimpleNamespace(inputs=inputs, parameters=parameters), LIMITS, TOKENS)
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
