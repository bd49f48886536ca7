"""evaluation.matching: Hungarian on 1 - IoU."""

import numpy as np
import pytest

from evaluation.matching import hungarian_ious


def test_hungarian_prefers_global_optimum_over_greedy():
    # greedy would take (0,0)=0.9 then (1,1)=0.1 (sum 1.0); the optimum is 0.8 + 0.7 = 1.5
    iou = np.array([[0.9, 0.8], [0.7, 0.1]])
    per_gt, pairs = hungarian_ious(iou)
    np.testing.assert_allclose(per_gt, [0.7, 0.8])
    assert sorted(pairs) == [(0, 1), (1, 0)]


def test_unmatched_gts_get_zero_and_extra_preds_ignored():
    per_gt, pairs = hungarian_ious(np.array([[0.6, 0.2, 0.0]]))
    np.testing.assert_allclose(per_gt, [0.6, 0.0, 0.0])
    assert pairs == [(0, 0)]
    per_gt, pairs = hungarian_ious(np.array([[0.1], [0.9], [0.3]]))
    np.testing.assert_allclose(per_gt, [0.9])
    assert pairs == [(1, 0)]


def test_empty_shapes():
    per_gt, pairs = hungarian_ious(np.zeros((0, 3)))
    np.testing.assert_array_equal(per_gt, [0, 0, 0])
    assert pairs == []
    assert hungarian_ious(np.zeros((2, 0)))[0].shape == (0,)


@pytest.mark.parametrize("bad", [np.zeros(3), np.array([[1.5]]), np.array([[np.nan]])])
def test_rejects_bad_matrices(bad):
    with pytest.raises(ValueError):
        hungarian_ious(bad)
