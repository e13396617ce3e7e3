"""The live voice limit: it falls when blocks take too long to mix and climbs back when they are quick."""
import pytest

from singsynth.load import HOLD, MAX_CUT, VoiceBudget

PERIOD = 256 / 48000


def blocks(budget: VoiceBudget, share: float, count: int, voices: int | None = None) -> int:
    """`count` blocks each taking `share` of a period; the limit after them."""
    for _ in range(count):
        budget.update(share * PERIOD, PERIOD, budget.limit if voices is None else voices)
    return budget.limit


def test_one_slow_block_is_not_a_load():
    budget = VoiceBudget(256, share=0.5)
    blocks(budget, 0.3, 20)
    assert blocks(budget, 1.0, 1, voices=256) == 256  # a big chord's first block: the average stays under


def test_a_sustained_load_cuts_by_the_share_it_is_over_then_waits_to_see_the_effect():
    budget = VoiceBudget(256, share=0.5)
    blocks(budget, 0.45, 40)
    for _ in range(10):  # blocks a little over the budget: a cut once the average crosses it
        limit = blocks(budget, 0.6, 1, voices=200)
        if limit < 256:
            break
    assert budget.load > 0.5 and limit == int(200 * 0.5 / budget.load) and 200 * (1 - MAX_CUT) < limit < 200
    assert blocks(budget, 0.6, HOLD - 1, voices=limit) == limit  # held while the cut takes effect
    assert blocks(budget, 5.0, 1, voices=limit) == int(limit * (1 - MAX_CUT))  # far over: a quarter at most
    assert budget.lowest == budget.limit


def test_the_limit_never_falls_below_the_floor_and_climbs_back_only_on_calm_blocks():
    budget = VoiceBudget(256, share=0.5, calm=0.35, floor=16)
    assert blocks(budget, 1.0, 200) == budget.lowest == 16
    assert blocks(budget, 0.45, 30) == 16  # under the budget, not calm: held
    blocks(budget, 0.1, 30)  # the average falls under the calm share within a few blocks
    climbed = budget.limit
    assert 16 < climbed <= 16 + 30 * 2
    assert blocks(budget, 0.1, 10) == climbed + 10 * 2  # polyphony 256 climbs 2 voices a block
    assert blocks(budget, 0.1, 1000) == 256 and budget.lowest == 16


@pytest.mark.parametrize("polyphony", [1, 8])
def test_a_small_polyphony_is_its_own_floor(polyphony):
    budget = VoiceBudget(polyphony, floor=16)
    assert blocks(budget, 1.0, 50) == polyphony
