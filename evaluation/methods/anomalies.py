"""Flags the committee must look at: scores that disagree, and prices that are abnormally low.

Scores may be changed only for a few reasons, two of which a machine can see (DOMAIN.md
"Evaluation"): an objective factor scored differently by members (it is a fact in the bid,
so everyone should give the same points) and an abnormal score (畸高畸低) far from what
the other members gave. A flagged member confirms with a reason or revises; the flag
itself changes nothing.

A price far below the others is not invalid by itself: the bidder is asked to explain it
in writing, and the bid is rejected only if the explanation fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

from evaluation.methods.benchmark import average_price, round_money


def flag_scores(scores: Mapping[int, Decimal], *, max_points: Decimal, objective: bool,
                threshold: Decimal) -> dict[int, str]:
    """Members whose score of one factor of one bid needs a second look: member_id -> reason.

    Objective factor: every member differing from the most common value is flagged; when
    no value is more common than every other, all members are (there is no agreement).
    Subjective factor: a member is flagged when their score is more than
    ``threshold x max_points`` away from the median of the other members' scores.
    """
    if max_points <= 0:
        raise ValueError(f"max_points must be above 0, got {max_points}")
    if not Decimal(0) <= threshold <= 1:
        raise ValueError(f"threshold must be a share from 0 to 1 of the factor's points, got {threshold}")
    if len(scores) < 2:
        return {}
    return _objective_flags(scores) if objective else _subjective_flags(scores, max_points, threshold)


def _objective_flags(scores: Mapping[int, Decimal]) -> dict[int, str]:
    counts = Counter(scores.values()).most_common()
    most, count = counts[0]
    if len(counts) > 1 and counts[1][1] == count:
        values = ", ".join(str(value) for value in sorted(set(scores.values())))
        return {member: f"objective factor differs from other members: members gave {values} and no value "
                        "is given by more members than the others" for member in scores}
    return {member: f"objective factor differs from other members: {score} against {most} given by "
                    f"{count} of {len(scores)} members"
            for member, score in scores.items() if score != most}


def _subjective_flags(scores: Mapping[int, Decimal], max_points: Decimal, threshold: Decimal) -> dict[int, str]:
    allowed = threshold * max_points
    flags: dict[int, str] = {}
    for member, score in scores.items():
        others = [other for other_member, other in scores.items() if other_member != member]
        centre = median(others)
        distance = abs(score - centre)
        if distance > allowed:
            flags[member] = (f"abnormal score (畸高畸低): {score} is {distance} from {centre}, the median of the "
                             f"other members, more than {threshold} x {max_points} = {allowed}")
    return flags


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def abnormally_low(prices: Mapping[int, Decimal], ratio: Decimal) -> tuple[frozenset[int], Decimal | None]:
    """Bids priced below ``ratio`` x the average valid price, and that threshold.

    The average and the threshold are prices, each rounded to the fen (0.01, half up);
    a bid is flagged when its price is strictly below the threshold.
    """
    if not prices:
        return frozenset(), None
    threshold = round_money(average_price(list(prices.values())) * ratio)
    return frozenset(bid for bid, price in prices.items() if price < threshold), threshold
