from collections import Counter

import pytest

from tunix_nb.mixing import draw, quotas


@pytest.mark.parametrize("weights, total, expect", [
    ([0.7, 0.3], 10, [7, 3]), ([1, 1, 1], 10, [4, 3, 3]), ([2, 1], 7, [5, 2]), ([0.5, 0.5], 1, [1, 0]),
])
def test_quotas_follow_the_weights_and_sum_to_the_total(weights, total, expect):
    assert quotas(weights, total) == expect


def test_draw_takes_each_quota_without_repeats_while_rows_last():
    picked = draw([100, 50], [0.7, 0.3], 60, seed=1)
    per = Counter(source for source, _ in picked)
    assert per == {0: 42, 1: 18} and len(set(picked)) == 60
    assert all(0 <= row < (100, 50)[source] for source, row in picked)


def test_a_small_source_asked_for_more_goes_round_again():
    picked = draw([3, 100], [0.5, 0.5], 20, seed=0)
    small = [row for source, row in picked if source == 0]
    assert len(small) == 10 and sorted(Counter(small).values()) == [3, 3, 4]  # every row before any repeats


def test_same_seed_same_rows_in_the_same_order_other_seed_other_order():
    assert draw([40, 30], [1, 2], 30, seed=5) == draw([40, 30], [1, 2], 30, seed=5)
    assert draw([40, 30], [1, 2], 30, seed=5) != draw([40, 30], [1, 2], 30, seed=6)
