"""evaluation.masks: RLE round trips, validation, IoU matrix, resize, union/intersection."""

import numpy as np
import pytest
from eval_cases import A_SHIFT, EMPTY, G20, HALF_G20, A, B

from evaluation import masks


def test_encode_decode_round_trip_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, 2)
        m = rng.random((h, w)) < rng.random()
        rle = masks.encode(m)
        assert rle["size"] == [h, w] and isinstance(rle["counts"], str)
        assert masks.check(rle) == rle
        np.testing.assert_array_equal(masks.decode(rle), m)


def test_iou_matrix_values_and_shapes():
    iou = masks.iou_matrix([A, A_SHIFT, B], [A, G20])
    assert iou.shape == (3, 2)
    np.testing.assert_allclose(iou, [[1.0, 20 / 25], [0.8, 16 / 24], [0.0, 0.0]])
    assert masks.iou_matrix([HALF_G20], [G20])[0, 0] == 0.5
    assert masks.iou_matrix([], [A]).shape == (0, 1)
    assert masks.iou_matrix([A], []).shape == (1, 0)
    assert masks.iou_matrix([EMPTY], [EMPTY])[0, 0] == 0.0


def test_iou_matrix_refuses_mixed_sizes():
    with pytest.raises(ValueError, match="different sizes"):
        masks.iou_matrix([A], [masks.empty(5, 5)])


def test_union_intersect_area():
    assert masks.area(masks.union([A, B])) == 50
    assert masks.area(masks.intersect(A, A_SHIFT)) == 20
    assert masks.area(masks.union([], (3, 4))) == 0
    with pytest.raises(ValueError, match="needs a size"):
        masks.union([])


def test_resize_nearest():
    small = masks.encode(np.eye(4, dtype=bool))
    big = masks.resize(small, (8, 8))
    assert big["size"] == [8, 8] and masks.area(big) == 16
    np.testing.assert_array_equal(masks.decode(masks.resize(big, (4, 4))), np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match="positive"):
        masks.resize(small, (0, 4))


@pytest.mark.parametrize(
    "rle, message",
    [
        ({"size": [4, 5], "counts": "5220004"}, "covers 21 pixels"),
        ({"size": [4, 5], "counts": "5220"}, "covers 11 pixels"),
        ({"size": [4, 5], "counts": "52200x"}, "outside COCO's RLE alphabet"),
        ({"size": [4, 5], "counts": "52200P"}, "truncated"),
        ({"size": [4, 5], "counts": [2, 3]}, "compressed string"),
        ({"size": [4], "counts": ""}, "size must be"),
        ({"size": [4, 5]}, "an RLE must be an object"),
        ("5220003", "an RLE must be an object"),
        ({"size": [4, 5], "counts": "5220é"}, "non-ASCII"),
    ],
)
def test_check_rejects_malformed(rle, message):
    with pytest.raises(ValueError, match=message):
        masks.check(rle)
