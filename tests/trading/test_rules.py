"""The legal time rules: every row at its boundary, the deadline functions, bad input."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.clock import SHANGHAI
from core.errors import InvalidInput, RuleViolation
from trading import rules
from trading.calendar import WorkingCalendar
from trading.rules import Bound, DayUnit, Timetable
from trading.states import PROCEDURES_BY_SEGMENT

CALENDAR = WorkingCalendar.default()
ALL_PAIRS = [(segment.value, procedure.value)
             for segment, procedures in PROCEDURES_BY_SEGMENT.items() for procedure in procedures]


def sh(year: int, month: int, day: int, hour: int = 9, minute: int = 30) -> datetime:
    """A Shanghai wall-clock time, as the aware UTC value the platform stores."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=SHANGHAI).astimezone(timezone.utc)


def shanghai_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


# A timetable far inside every limit: every boundary test moves one point of it.
BASE = Timetable(
    published_at=sh(2026, 3, 2, 9, 0), documents_from=sh(2026, 4, 1, 9, 0),
    documents_until=sh(2026, 6, 29, 17, 0), bid_deadline=sh(2026, 6, 30), opening_at=sh(2026, 6, 30))


def moved(timetable: Timetable, point: str, value: datetime) -> Timetable:
    field = "bidding_from" if point == "bidding_starts" else point
    return dataclasses.replace(timetable, **{field: value})


def timetable_rules() -> list[rules.TimeRule]:
    return [rule for segment, procedure in ALL_PAIRS for rule in rules.rules_for(segment, procedure)
            if rule.measured_from in rules.TIMETABLE_POINTS and rule.measured_to in rules.TIMETABLE_POINTS]


def event_rules() -> list[rules.TimeRule]:
    return [rule for segment, procedure in ALL_PAIRS for rule in rules.rules_for(segment, procedure)
            if rule not in timetable_rules()]


def breached(rule: rules.TimeRule, timetable: Timetable) -> bool:
    return rule.id in {b.rule for b in rules.timetable_breaches(rule.segment, rule.procedure, timetable)}


# ----------------------------------------------------------------- the table itself


def test_the_table_covers_every_segment_and_procedure():
    for segment, procedure in ALL_PAIRS:
        kinds = {rule.kind for rule in rules.rules_for(segment, procedure)}
        assert {"documents_after_notice", "documents_period_order", "documents_before_deadline",
                "opening_time"} <= kinds, (segment, procedure)
    segments_with_limits = {rule.segment for rule in rules.rule_table() if rule.amount > 0}
    assert segments_with_limits == {"construction", "government_procurement", "land_mining", "state_property"}


def test_every_rule_names_its_source_and_unconfirmed_ones_say_so():
    for rule in rules.rule_table():
        assert rule.source.strip(), rule.id
        assert rule.confirmed or "UNCONFIRMED" in rule.description, rule.id
    listing = next(r for r in rules.rule_table() if r.id == "land_mining.listing.listing_period")
    assert not listing.confirmed and listing.unit is DayUnit.WORKING


def test_the_seed_figures_of_domain_md():
    def rule(segment, procedure, kind):
        return next(r for r in rules.rules_for(segment, procedure) if r.kind == kind)
    assert (rule("construction", "open_tender", "documents_to_deadline").amount,
            rule("construction", "invited_tender", "documents_availability").amount,
            rule("construction", "open_tender", "clarification_cutoff").amount,
            rule("construction", "open_tender", "documents_objection_window").amount,
            rule("construction", "open_tender", "candidate_publicity").amount) == (20, 5, 15, 10, 3)
    documents = rule("government_procurement", "open_tender", "documents_availability")
    assert (documents.amount, documents.unit) == (5, DayUnit.WORKING)
    challenge = rule("government_procurement", "single_source", "objection_window")
    assert (challenge.amount, challenge.unit) == (7, DayUnit.WORKING)
    disclosure = rule("state_property", "listing_dutch", "disclosure_period")
    assert (disclosure.amount, disclosure.unit) == (20, DayUnit.WORKING)
    assert "single_source" not in {r.procedure for r in rules.rule_table() if r.kind == "documents_to_deadline"}


def test_rules_for_fills_in_the_procedure_and_lets_its_own_rows_win():
    open_tender = {r.kind: r for r in rules.rules_for("government_procurement", "open_tender")}
    single = {r.kind: r for r in rules.rules_for("government_procurement", "single_source")}
    assert open_tender["opening_time"].bound is Bound.SAME_TIME
    assert single["opening_time"].bound is Bound.NOT_BEFORE
    assert single["objection_window"].id == "government_procurement.single_source.objection_window"
    assert single["objection_window"].procedure == "single_source"
    assert any(r.id == "government_procurement.*.objection_window" for r in rules.rule_table())


def test_minimum_bidders():
    assert rules.minimum_bidders("construction", "open_tender") == 3
    assert rules.minimum_bidders("construction", "invited_tender") == 3
    assert rules.minimum_bidders("government_procurement", "open_tender") == 3
    assert rules.minimum_bidders("government_procurement", "single_source") == 1
    assert rules.minimum_bidders("land_mining", "listing") == 1
    assert rules.minimum_bidders("state_property", "auction") == 1


@pytest.mark.parametrize(("change", "complaint"), [
    ({"amount": -1}, "amount"),
    ({"amount": 2.5}, "amount"),
    ({"unit": "weeks"}, "weeks"),
    ({"bound": "about"}, "about"),
    ({"segment": "fishing"}, "unknown segment"),
    ({"procedure": "auction"}, "not a procedure of construction"),
    ({"source": " "}, "legal source"),
    ({"confirmed": "yes"}, "confirmed"),
    ({"from": None}, "'from' and 'to'"),
])
def test_a_broken_rule_row_is_refused(change, complaint):
    row = {"segment": "construction", "procedure": "*", "kind": "x", "amount": 1, "unit": "calendar_days",
           "bound": "at_least", "from": "documents_from", "to": "bid_deadline", "description": "d",
           "source": "s", "confirmed": True}
    with pytest.raises(rules.RuleTableError, match=complaint):
        rules.load_rule_table({"rules": [row | change]})


def test_a_duplicate_rule_is_refused():
    row = {"segment": "construction", "procedure": "*", "kind": "x", "amount": 1, "unit": "calendar_days",
           "bound": "at_least", "from": "a", "to": "b", "description": "d", "source": "s", "confirmed": True}
    with pytest.raises(rules.RuleTableError, match="twice"):
        rules.load_rule_table({"rules": [row, row]})


# ----------------------------------------------------------------- every timetable rule at its boundary


@pytest.mark.parametrize(("segment", "procedure"), ALL_PAIRS)
def test_the_base_timetable_passes_every_procedure(segment, procedure):
    assert rules.timetable_breaches(segment, procedure, BASE) == []


@pytest.mark.parametrize("rule", timetable_rules(), ids=lambda rule: rule.id)
def test_each_timetable_rule_passes_exactly_at_its_limit_and_fails_one_short(rule):
    end = getattr(BASE, rule.measured_to)
    assert CALENDAR.is_working_day(shanghai_date(end))  # so working-day counts are exact
    if rule.bound is Bound.AT_LEAST:
        enough, short = _days_before(rule, end, rule.amount), _days_before(rule, end, rule.amount - 1)
        assert not breached(rule, moved(BASE, rule.measured_from, enough))
        assert breached(rule, moved(BASE, rule.measured_from, short))
    elif rule.bound is Bound.NOT_BEFORE:
        assert not breached(rule, moved(BASE, rule.measured_from, end))
        assert breached(rule, moved(BASE, rule.measured_from, end + timedelta(seconds=1)))
    else:
        assert rule.bound is Bound.SAME_TIME
        assert not breached(rule, moved(BASE, rule.measured_from, end))
        assert breached(rule, moved(BASE, rule.measured_from, end + timedelta(minutes=1)))
        assert breached(rule, moved(BASE, rule.measured_from, end - timedelta(minutes=1)))


def _days_before(rule: rules.TimeRule, end: datetime, amount: int) -> datetime:
    local = end.astimezone(SHANGHAI)
    if rule.unit is DayUnit.WORKING:
        day = CALENDAR.add_working_days(local.date(), -amount)
        return datetime.combine(day, local.time(), tzinfo=SHANGHAI).astimezone(timezone.utc)
    return end - timedelta(days=amount)


def test_the_start_day_is_not_counted_and_times_of_day_do_not_matter():
    timetable = dataclasses.replace(BASE, published_at=sh(2026, 3, 1, 23, 59), documents_from=sh(2026, 3, 1, 23, 59),
                                    documents_until=sh(2026, 3, 10), bid_deadline=sh(2026, 3, 21, 0, 1),
                                    opening_at=sh(2026, 3, 21, 0, 1))
    assert rules.timetable_breaches("construction", "open_tender", timetable) == []
    early = dataclasses.replace(timetable, bid_deadline=sh(2026, 3, 20, 23, 59), opening_at=sh(2026, 3, 20, 23, 59))
    assert [b.rule for b in rules.timetable_breaches("construction", "open_tender", early)] == [
        "construction.open_tender.documents_to_deadline"]


def test_days_are_shanghai_dates_not_utc_dates():
    # 2026-03-01 01:00 Shanghai is still 28 February in UTC; counting UTC dates would give 21
    timetable = dataclasses.replace(BASE, published_at=sh(2026, 3, 1, 1, 0), documents_from=sh(2026, 3, 1, 1, 0),
                                    documents_until=sh(2026, 3, 10), bid_deadline=sh(2026, 3, 20, 9, 0),
                                    opening_at=sh(2026, 3, 20, 9, 0))
    assert [b.rule for b in rules.timetable_breaches("construction", "open_tender", timetable)] == [
        "construction.open_tender.documents_to_deadline"]


def test_a_breach_message_names_the_rule_its_source_and_the_numbers():
    timetable = Timetable(published_at=sh(2026, 3, 1), documents_from=sh(2026, 3, 1), documents_until=sh(2026, 3, 10),
                          bid_deadline=sh(2026, 3, 16), opening_at=sh(2026, 3, 16))
    [breach] = rules.timetable_breaches("construction", "open_tender", timetable)
    assert breach.rule == "construction.open_tender.documents_to_deadline"
    assert breach.message == (
        "construction.open_tender.documents_to_deadline: at least 20 days from the documents' issue to the "
        "bid deadline (Bidding Law art. 24); the timetable gives 15 days (2026-03-01 to 2026-03-16)")


def test_order_messages_give_both_times_in_shanghai():
    late_opening = dataclasses.replace(BASE, opening_at=sh(2026, 6, 30, 10, 0))
    [breach] = rules.timetable_breaches("construction", "invited_tender", late_opening)
    assert breach.rule == "construction.invited_tender.opening_time"
    assert "Bidding Law art. 34" in breach.message
    assert "the opening at 2026-06-30 10:00 and the bid deadline at 2026-06-30 09:30 (Asia/Shanghai)" in breach.message
    early_opening = dataclasses.replace(BASE, opening_at=sh(2026, 6, 30, 9, 0))
    [breach] = rules.timetable_breaches("land_mining", "auction", early_opening)
    assert "the opening may not come before the bid deadline" in breach.message


def test_working_day_rules_count_the_holidays_and_adjusted_weekends():
    # published Thursday 12 Feb 2026: 13, 14 (adjusted Saturday), holiday to the 23rd, 24, 25, 26 -> 5 working days
    timetable = Timetable(published_at=sh(2026, 2, 12), documents_from=sh(2026, 2, 12),
                          documents_until=sh(2026, 2, 26), bid_deadline=sh(2026, 3, 16), opening_at=sh(2026, 3, 16))
    assert rules.timetable_breaches("government_procurement", "open_tender", timetable) == []
    short = dataclasses.replace(timetable, documents_until=sh(2026, 2, 25))
    [breach] = rules.timetable_breaches("government_procurement", "open_tender", short)
    assert breach.message.endswith("the timetable gives 4 working days (2026-02-12 to 2026-02-25)")
    # counting Monday to Friday only would have given 9 working days
    assert WorkingCalendar.from_data({"years": {}}).working_days_between(date(2026, 2, 12), date(2026, 2, 25)) == 9


def test_a_working_day_rule_in_a_year_without_data_says_so():
    timetable = Timetable(published_at=sh(2027, 3, 1), documents_from=sh(2027, 3, 1), documents_until=sh(2027, 3, 5),
                          bid_deadline=sh(2027, 3, 16), opening_at=sh(2027, 3, 16))
    [breach] = rules.timetable_breaches("state_property", "auction", timetable)
    assert breach.rule == "state_property.auction.disclosure_period"
    assert "no official holiday data for 2027" in breach.message
    enough = dataclasses.replace(timetable, bid_deadline=sh(2027, 3, 29), opening_at=sh(2027, 3, 29))
    assert rules.timetable_breaches("state_property", "auction", enough) == []  # nothing added silently


def test_an_unconfirmed_rule_says_so_in_its_message():
    timetable = dataclasses.replace(BASE, documents_until=sh(2026, 6, 5), bid_deadline=sh(2026, 6, 10),
                                    opening_at=sh(2026, 6, 10), bidding_from=sh(2026, 6, 1))
    messages = [b.message for b in rules.timetable_breaches("land_mining", "listing", timetable)]
    assert len(messages) == 1 and "this figure is unconfirmed" in messages[0]
    assert "land_mining.listing.listing_period" in messages[0]


def test_land_notice_period_counts_to_the_start_of_bidding():
    timetable = dataclasses.replace(BASE, published_at=sh(2026, 4, 1), documents_from=sh(2026, 4, 1))
    [breach] = rules.timetable_breaches("land_mining", "tender", timetable)
    assert breach.rule == "land_mining.tender.notice_period"
    assert rules.timetable_breaches("land_mining", "tender",
                                    dataclasses.replace(timetable, bidding_from=sh(2026, 4, 21))) == []


def test_a_custom_calendar_can_be_given():
    no_holidays = WorkingCalendar.from_data({"years": {}})
    timetable = Timetable(published_at=sh(2026, 2, 12), documents_from=sh(2026, 2, 12),
                          documents_until=sh(2026, 2, 19), bid_deadline=sh(2026, 3, 16), opening_at=sh(2026, 3, 16))
    assert rules.timetable_breaches("government_procurement", "open_tender", timetable, no_holidays) == []
    assert rules.timetable_breaches("government_procurement", "open_tender", timetable) != []


# ----------------------------------------------------------------- clarifications


def test_a_late_clarification_moves_the_deadline_15_days_out():
    deadline = sh(2026, 3, 21, 9, 30)
    assert rules.clarification_deadline("construction", "open_tender", clarified_at=sh(2026, 3, 6, 18, 0),
                                        bid_deadline=deadline) is None  # exactly 15 days
    moved_to = rules.clarification_deadline("construction", "open_tender", clarified_at=sh(2026, 3, 10, 10, 0),
                                            bid_deadline=deadline)
    assert moved_to == sh(2026, 3, 25, 9, 30)


def test_a_moved_deadline_landing_on_a_day_off_goes_to_the_next_working_day():
    moved_to = rules.clarification_deadline("construction", "open_tender", clarified_at=sh(2026, 3, 7, 10, 0),
                                            bid_deadline=sh(2026, 3, 20, 9, 30))
    assert moved_to == sh(2026, 3, 23, 9, 30)  # 22 March is a Sunday
    over_the_festival = rules.clarification_deadline(
        "government_procurement", "open_tender", clarified_at=sh(2026, 2, 1), bid_deadline=sh(2026, 2, 10, 14, 0))
    assert over_the_festival == sh(2026, 2, 24, 14, 0)  # 16 Feb is inside the Spring Festival holiday


def test_working_day_clarification_cutoffs_skip_the_holiday():
    moved_to = rules.clarification_deadline("government_procurement", "competitive_negotiation",
                                            clarified_at=sh(2026, 2, 12), bid_deadline=sh(2026, 2, 14, 10, 0))
    assert moved_to == sh(2026, 2, 24, 10, 0)  # 13, 14 (adjusted Saturday), 24


def test_no_clarification_rule_means_no_move():
    assert rules.clarification_deadline("land_mining", "auction", clarified_at=sh(2026, 3, 10),
                                        bid_deadline=sh(2026, 3, 11)) is None


# ----------------------------------------------------------------- objections


def test_construction_objections_to_documents_close_10_days_before_the_deadline():
    last = rules.objection_deadline("construction", "open_tender", "documents", bid_deadline=sh(2026, 3, 21))
    assert last == end_of(date(2026, 3, 11))
    timetable = dataclasses.replace(BASE, objection_until=end_of(date(2026, 6, 20)))
    assert rules.timetable_breaches("construction", "open_tender", timetable) == []
    assert [b.rule for b in rules.timetable_breaches(
        "construction", "open_tender", dataclasses.replace(timetable, objection_until=sh(2026, 6, 21, 0, 0)))] == [
        "construction.open_tender.documents_objection_window"]


def test_construction_objections_at_the_opening_and_during_publicity():
    assert rules.objection_deadline("construction", "open_tender", "opening", bid_deadline=sh(2026, 3, 21)) is None
    until = rules.publicity_end("construction", "open_tender", sh(2026, 3, 2, 10, 0))
    assert rules.objection_deadline("construction", "open_tender", "publicity", publicity_until=until) == until
    with pytest.raises(InvalidInput, match="publicity_until") as caught:
        rules.objection_deadline("construction", "open_tender", "publicity")
    assert caught.value.errors[0].pointer == "$.publicity_until"


def test_procurement_challenges_run_7_working_days_from_knowing():
    last = rules.objection_deadline("government_procurement", "open_tender", "publicity", known_at=sh(2026, 9, 24))
    # 25-27 Mid-Autumn; 28, 29, 30; 1-7 National Day; 8, 9, 10 (adjusted Saturday), 12
    assert last == end_of(date(2026, 10, 12))
    documents = rules.objection_deadline("government_procurement", "request_for_quotation", "documents",
                                         known_at=sh(2026, 3, 2), bid_deadline=sh(2026, 3, 5))
    assert documents == end_of(date(2026, 3, 11))
    with pytest.raises(InvalidInput, match="known_at"):
        rules.objection_deadline("government_procurement", "open_tender", "documents", bid_deadline=sh(2026, 3, 5))


def test_no_objection_rule_means_no_limit():
    assert rules.objection_deadline("land_mining", "listing", "documents", bid_deadline=sh(2026, 3, 5)) is None


def test_objection_reply_due_dates():
    # within 3 days of a Monday: Thursday, end of day
    assert rules.objection_reply_due("construction", "open_tender", "documents", sh(2026, 3, 2, 16, 0)) == \
        end_of(date(2026, 3, 5))
    # the third day is a Saturday: the period runs to Monday (Civil Code art. 203)
    assert rules.objection_reply_due("construction", "invited_tender", "publicity", sh(2026, 3, 4)) == \
        end_of(date(2026, 3, 9))
    # the third day falls in the Spring Festival: the first working day after it
    assert rules.objection_reply_due("construction", "open_tender", "documents", sh(2026, 2, 12)) == \
        end_of(date(2026, 2, 24))
    # answered on the spot at the opening: that day
    assert rules.objection_reply_due("construction", "open_tender", "opening", sh(2026, 3, 21, 9, 40)) == \
        end_of(date(2026, 3, 21))
    # procurement: 7 working days: 13, 14 (adjusted), 24, 25, 26, 27, 28 (adjusted)
    assert rules.objection_reply_due("government_procurement", "single_source", "documents", sh(2026, 2, 12)) == \
        end_of(date(2026, 2, 28))


def test_a_reply_period_missing_from_the_table_is_a_rule_violation():
    with pytest.raises(RuleViolation, match="land_mining.auction") as caught:
        rules.objection_reply_due("land_mining", "auction", "documents", sh(2026, 3, 2))
    assert caught.value.rule == "land_mining.auction.documents_objection_reply"


# ----------------------------------------------------------------- publicity and other periods


def test_publicity_ends():
    assert rules.publicity_end("construction", "open_tender", sh(2026, 3, 2, 10, 0)) == end_of(date(2026, 3, 5))
    # result announcement, 1 working day from Friday 3 April: 4-6 April is Qingming
    assert rules.publicity_end("government_procurement", "open_tender", sh(2026, 4, 3)) == end_of(date(2026, 4, 7))
    # 10 working days of listing from Wednesday 30 September 2026
    assert rules.publicity_end("land_mining", "listing", sh(2026, 9, 30)) == end_of(date(2026, 10, 20))
    # 20 working days of disclosure: across Mid-Autumn and National Day
    assert rules.publicity_end("state_property", "auction", sh(2026, 9, 15)) == end_of(date(2026, 10, 19))
    with pytest.raises(RuleViolation, match="land_mining.auction"):
        rules.publicity_end("land_mining", "auction", sh(2026, 3, 2))


def test_other_periods_by_kind():
    assert rules.period_end("construction", "open_tender", "complaint_window", sh(2026, 9, 21)) == \
        end_of(date(2026, 10, 8))  # 1 October is a holiday: the period runs on (Civil Code art. 203)
    assert rules.period_end("state_property", "listing_multi_round", "disclosure_extension", sh(2026, 2, 12)) == \
        end_of(date(2026, 2, 26))
    with pytest.raises(RuleViolation, match="'winner_report'"):
        rules.period_end("land_mining", "auction", "winner_report", sh(2026, 3, 2))


@pytest.mark.parametrize("rule", event_rules(), ids=lambda rule: rule.id)
def test_each_period_rule_ends_exactly_its_amount_from_a_plain_working_day(rule):
    """Counted from Monday 2 March 2026 (no holiday within 40 days either way)."""
    start = sh(2026, 3, 2, 11, 0)
    end = _period_end_of(rule, start)
    assert end.astimezone(SHANGHAI).time() == time.max  # the whole last day counts
    counted = (CALENDAR.working_days_between(date(2026, 3, 2), shanghai_date(end)) if rule.unit is DayUnit.WORKING
               else (shanghai_date(end) - date(2026, 3, 2)).days)
    backwards = rule.kind.endswith("objection_window") and rule.bound is Bound.AT_LEAST  # N days before an end
    expected = -rule.amount if backwards else rule.amount
    if rule.unit is DayUnit.CALENDAR and rule.bound is Bound.WITHIN and rule.amount > 0:
        # a period to act that would end on a day off runs on to the next working day
        assert CALENDAR.is_working_day(shanghai_date(end))
        assert expected <= counted <= expected + 2
        assert not any(CALENDAR.is_working_day(date(2026, 3, 2) + timedelta(days=n))
                       for n in range(expected, counted))
    else:
        assert counted == expected


def _period_end_of(rule: rules.TimeRule, start: datetime) -> datetime:
    if rule.kind.endswith("objection_window"):
        stage = rule.kind.removesuffix("_objection_window") if rule.kind != "objection_window" else "documents"
        end = rules.objection_deadline(rule.segment, rule.procedure, stage,
                                       known_at=start, publicity_until=start, bid_deadline=start)
        assert end is not None
        return end
    if rule.kind.endswith("objection_reply"):
        stage = rule.kind.removesuffix("_objection_reply") if rule.kind != "objection_reply" else "opening"
        return rules.objection_reply_due(rule.segment, rule.procedure, stage, start)
    return rules.period_end(rule.segment, rule.procedure, rule.kind, start)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("field", ["published_at", "documents_from", "documents_until", "bid_deadline",
                                   "opening_at", "clarification_until", "objection_until", "bidding_from"])
def test_a_naive_timetable_time_is_refused_naming_the_field(field):
    with pytest.raises(InvalidInput, match=f"{field} has no time zone") as caught:
        dataclasses.replace(BASE, **{field: datetime(2026, 3, 1, 9, 0)})
    assert caught.value.errors[0].pointer == f"$.timetable.{field}"


def test_a_timetable_point_that_is_not_a_datetime_is_refused():
    with pytest.raises(InvalidInput, match="bid_deadline must be a date and time"):
        dataclasses.replace(BASE, bid_deadline=date(2026, 3, 1))


@pytest.mark.parametrize(("call", "field"), [
    (lambda: rules.clarification_deadline("construction", "open_tender", clarified_at=datetime(2026, 3, 1),
                                          bid_deadline=sh(2026, 3, 21)), "clarified_at"),
    (lambda: rules.clarification_deadline("construction", "open_tender", clarified_at=sh(2026, 3, 1),
                                          bid_deadline=datetime(2026, 3, 21)), "bid_deadline"),
    (lambda: rules.objection_deadline("construction", "open_tender", "documents",
                                      bid_deadline=datetime(2026, 3, 21)), "bid_deadline"),
    (lambda: rules.objection_deadline("construction", "open_tender", "documents", bid_deadline=sh(2026, 3, 21),
                                      known_at=datetime(2026, 3, 1)), "known_at"),
    (lambda: rules.objection_reply_due("construction", "open_tender", "documents", datetime(2026, 3, 1)),
     "raised_at"),
    (lambda: rules.publicity_end("construction", "open_tender", datetime(2026, 3, 1)), "start"),
    (lambda: rules.period_end("construction", "open_tender", "winner_report", datetime(2026, 3, 1)), "start"),
])
def test_naive_datetimes_are_refused_naming_the_argument(call, field):
    with pytest.raises(InvalidInput, match=f"{field} has no time zone") as caught:
        call()
    assert caught.value.errors[0].pointer == f"$.{field}"


@pytest.mark.parametrize("call", [
    lambda: rules.rules_for("fishing", "open_tender"),
    lambda: rules.timetable_breaches("fishing", "open_tender", BASE),
    lambda: rules.minimum_bidders("fishing", "open_tender"),
    lambda: rules.publicity_end("fishing", "open_tender", sh(2026, 3, 1)),
])
def test_an_unknown_segment_lists_the_known_ones(call):
    with pytest.raises(InvalidInput, match="known segments: construction, government_procurement, "
                                           "land_mining, state_property") as caught:
        call()
    assert caught.value.errors[0].pointer == "$.segment"


def test_an_unknown_procedure_lists_the_segments_procedures():
    with pytest.raises(InvalidInput, match="its procedures: open_tender, invited_tender") as caught:
        rules.timetable_breaches("construction", "auction", BASE)
    assert caught.value.errors[0].pointer == "$.procedure"
    with pytest.raises(InvalidInput, match="unknown procedure 'barter'"):
        rules.clarification_deadline("land_mining", "barter", clarified_at=sh(2026, 3, 1), bid_deadline=sh(2026, 3, 2))


def test_an_unknown_objection_stage_lists_the_stages():
    with pytest.raises(InvalidInput, match="known stages: documents, opening, publicity"):
        rules.objection_deadline("construction", "open_tender", "evaluation", bid_deadline=sh(2026, 3, 21))
    with pytest.raises(InvalidInput, match="known stages"):
        rules.objection_reply_due("construction", "open_tender", "award", sh(2026, 3, 21))
