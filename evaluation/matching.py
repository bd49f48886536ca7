"""Hungarian matching of predicted to ground-truth masks on cost 1 − IoU (scipy).

    ious, pairs = hungarian_ious(masks.iou_matrix(preds, gts))

Every GT gets the IoU of its matched prediction, 0 when unmatched (more GTs than
predictions); extra predictions are simply left unmatched (not penalised).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def hungarian_ious(iou: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per-GT matched IoU (shape (n_gt,), 0 if unmatched) and the (pred_idx, gt_idx) pairs."""
    iou = np.asarray(iou, np.float64)
    if iou.ndim != 2:
        raise ValueError(f"hungarian_ious takes a 2-D (n_pred, n_gt) IoU matrix, got shape {iou.shape}")
    if not np.isfinite(iou).all() or (iou < 0).any() or (iou > 1).any():
        raise ValueError("IoU values must be finite and within [0, 1]")
    per_gt = np.zeros(iou.shape[1], np.float64)
    if iou.size == 0:
        return per_gt, []
    rows, cols = linear_sum_assignment(1.0 - iou)
    per_gt[cols] = iou[rows, cols]
    return per_gt, [(int(r), int(c)) for r, c in zip(rows, cols)]
