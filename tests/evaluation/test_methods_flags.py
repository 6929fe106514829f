"""Score flags: objective factors that differ, and abnormal (畸高畸低) subjective scores."""

from decimal import Decimal

import pytest

from evaluation.methods import flag_scores
from evaluation.methods.anomalies import median

D = Decimal


def test_objective_members_differing_from_the_most_common_value():
    scores = {1: D(5), 2: D(5), 3: D(3), 4: D(5), 5: D(0)}
    flags = flag_scores(scores, max_points=D(5), objective=True, threshold=D("0.2"))
    assert set(flags) == {3, 5}
    assert flags[3] == "objective factor differs from other members: 3 against 5 given by 3 of 5 members"


def test_objective_agreement_flags_nobody():
    assert flag_scores({1: D(4), 2: D("4.00"), 3: D(4)}, max_points=D(5), objective=True, threshold=D(0)) == {}


def test_objective_without_a_most_common_value_flags_everyone():
    flags = flag_scores({1: D(5), 2: D(3)}, max_points=D(5), objective=True, threshold=D("0.2"))
    assert set(flags) == {1, 2}
    assert "members gave 3, 5 and no value is given by more members" in flags[1]


def test_subjective_far_from_the_median_of_the_others():
    # max 20, threshold 0.25 -> at most 5 points from the median of the other members
    scores = {1: D(14), 2: D(15), 3: D(16), 4: D(15), 5: D(4)}
    flags = flag_scores(scores, max_points=D(20), objective=False, threshold=D("0.25"))
    # member 5: others 14 15 16 15 -> median (15 + 15) / 2 = 15; |4 - 15| = 11 > 5
    # member 1: others 15 16 15 4 -> median 15; |14 - 15| = 1: fine
    assert list(flags) == [5]
    assert flags[5].startswith("abnormal score (畸高畸低): 4 is 11 from 15, the median of the other members, "
                               "more than 0.25 x 20 = 5.00")


def test_subjective_exactly_at_the_threshold_is_not_flagged():
    # others 10 and 10 -> median 10; |15 - 10| = 5 = 0.25 x 20: not more than the threshold
    assert flag_scores({1: D(10), 2: D(10), 3: D(15)}, max_points=D(20), objective=False,
                       threshold=D("0.25")) == {}


def test_subjective_high_score_is_flagged_too():
    flags = flag_scores({1: D(10), 2: D(11), 3: D(19)}, max_points=D(20), objective=False, threshold=D("0.25"))
    # member 3: others 10 and 11 -> median 10.5; |19 - 10.5| = 8.5 > 5
    assert list(flags) == [3]


def test_one_member_is_never_flagged():
    assert flag_scores({1: D(0)}, max_points=D(5), objective=True, threshold=D("0.1")) == {}
    assert flag_scores({}, max_points=D(5), objective=False, threshold=D("0.1")) == {}


def test_median():
    assert median([D(3), D(1), D(2)]) == D(2)
    assert median([D(4), D(1), D(2), D(3)]) == D("2.5")


@pytest.mark.parametrize(("max_points", "threshold", "message"), [
    (D(0), D("0.2"), "max_points must be above 0"),
    (D(5), D("-0.1"), "threshold must be a share from 0 to 1"),
    (D(5), D("1.5"), "threshold must be a share from 0 to 1"),
])
def test_bad_arguments(max_points, threshold, message):
    with pytest.raises(ValueError, match=message):
        flag_scores({1: D(1), 2: D(2)}, max_points=max_points, objective=False, threshold=threshold)
