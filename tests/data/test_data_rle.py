"""COCO RLE helpers: parsing matches pycocotools, malformed RLE is rejected before decoding."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vrt.data import rle


def _mask(seed: int, shape=(37, 53)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) > 0.6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parse_counts_matches_pycocotools(seed):
    mask = _mask(seed)
    counts = rle.encode(mask)
    runs = rle.parse_counts(counts)
    assert sum(runs) == 37 * 53
    again = mask_utils.frPyObjects({"size": [37, 53], "counts": runs}, 37, 53)
    assert again["counts"].decode() == counts
    assert np.array_equal(rle.decode(counts, (37, 53)), mask)


def test_normalize_accepts_compressed_uncompressed_and_lists():
    mask = _mask(3)
    counts = rle.encode(mask)
    assert rle.normalize({"size": [37, 53], "counts": counts}) == (counts, (37, 53))
    assert rle.normalize({"size": [37, 53], "counts": rle.parse_counts(counts)}) == (counts, (37, 53))
    top, bottom = mask.copy(), mask.copy()
    top[20:], bottom[:20] = False, False
    parts = [{"size": [37, 53], "counts": rle.encode(top)}, {"size": [37, 53], "counts": rle.encode(bottom)}]
    assert rle.normalize(parts) == (counts, (37, 53))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"size": [4, 4], "counts": "5"}, "covers 5 pixels but size 4x4 has 16"),
        ({"size": [4, 4], "counts": "0\x7f"}, "outside COCO's RLE alphabet"),
        ({"size": [4, 4], "counts": "0P"}, "truncated"),
        ({"size": [4, 4], "counts": [3, -1, 14]}, "negative run length"),
        ({"size": [4], "counts": "0"}, "positive ints"),
        ({"counts": "0"}, "'size' and 'counts'"),
        ([], "empty list"),
        ([{"size": [2, 2], "counts": "4"}, {"size": [1, 4], "counts": "4"}], "different sizes"),
    ],
)
def test_normalize_rejects_malformed(bad, message):
    with pytest.raises(ValueError, match=message):
        rle.normalize(bad)


def test_normalize_rejects_non_string_counts():
    with pytest.raises(TypeError, match="string or a list"):
        rle.normalize({"size": [2, 2], "counts": 4})


@pytest.mark.parametrize("counts", ["5", "0\x7f", "0P", "5220004"])
def test_data_and_evaluation_share_one_validator(counts):
    from evaluation import masks

    with pytest.raises(ValueError) as from_data:
        rle.normalize({"size": [4, 4], "counts": counts})
    with pytest.raises(ValueError) as from_evaluation:
        masks.check({"size": [4, 4], "counts": counts})
    assert str(from_data.value) == str(from_evaluation.value)
