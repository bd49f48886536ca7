"""High-variance prompt selection on crafted reward tables."""

from __future__ import annotations

import pytest

from components.grpo.selection import reward_variances, select_high_variance

TABLE = [
    [1.0, 1.0, 1.0, 1.0],  # var 0
    [1.0, 0.0, 1.0, 0.0],  # var 0.25
    [2.0, 0.0, 0.0, 0.0],  # var 0.75
    [0.5, 0.0, 0.5, 0.0],  # var 0.0625
    [0.0, 1.0, 0.0, 1.0],  # var 0.25 (tie with prompt 1)
]


def test_variances():
    assert reward_variances(TABLE) == [0.0, 0.25, 0.75, 0.0625, 0.25]


@pytest.mark.parametrize(
    "keep, expected", [(1, [2]), (2, [1, 2]), (3, [1, 2, 4]), (4, [1, 2, 3, 4]), (9, [0, 1, 2, 3, 4])]
)
def test_select_high_variance(keep, expected):
    assert select_high_variance(TABLE, keep) == expected


def test_bad_input():
    with pytest.raises(ValueError, match="prompt 1 has 1 rollout reward"):
        reward_variances([[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match="keep must be >= 1"):
        select_high_variance(TABLE, 0)
