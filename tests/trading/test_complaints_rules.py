"""The complaint rule table: every rule has its legal source, and its periods agree with the
time rule table wherever both name the same rule."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from trading import complaint_rules, rules


def _data() -> dict:
    return json.loads(resources.files("trading").joinpath(complaint_rules.DEFAULT_DATA).read_text(encoding="utf-8"))


def test_every_rule_and_matter_names_its_source() -> None:
    for segment in complaint_rules.packaged_rules().values():
        for period in (segment.window, segment.acceptance, segment.decision, segment.suspension):
            assert period.source and period.rule.startswith(f"{segment.segment}.")
        for matter in segment.matters.values():
            assert matter.source and matter.description


def test_the_periods_agree_with_the_time_rules() -> None:
    time_rules = {rule.id.replace(".*.", "."): rule for rule in rules.rule_table()}
    compared = 0
    for segment in complaint_rules.packaged_rules().values():
        for period in (segment.window, segment.acceptance, segment.decision, segment.suspension):
            row = time_rules.get(period.rule)
            if row is None:
                continue
            assert (period.amount, period.unit) == (row.amount, row.unit.value), period.rule
            compared += 1
    assert compared >= 6


def test_procurement_needs_a_challenge_for_every_matter_and_construction_only_for_some() -> None:
    procurement = complaint_rules.rules_for("government_procurement")
    assert all(matter.objection_stage for matter in procurement.matters.values())
    construction = complaint_rules.rules_for("construction")
    assert construction.matter("process").objection_stage is None
    assert construction.matter("result").objection_stage == "publicity"


def test_a_broken_table_is_refused() -> None:
    data = copy.deepcopy(_data())
    data["segments"]["construction"]["window"]["unit"] = "fortnights"
    with pytest.raises(ValueError, match="unit"):
        complaint_rules.load_rules(data)
    data = copy.deepcopy(_data())
    data["segments"]["construction"]["acceptance"]["amount"] = -3
    with pytest.raises(ValueError, match="whole number"):
        complaint_rules.load_rules(data)
