"""How early a committee may be drawn: a rule per segment, as data (``data/draw_timing.json``).

Government procurement draws its evaluation experts no earlier than two working days
before the evaluation starts, so names drawn cannot leak for long (competitive
negotiation, competitive consultation and off-site evaluation excepted). Working days
follow the platform's calendar (``core.calendar``), counted on Asia/Shanghai dates.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from core.calendar import WorkingCalendar
from core.clock import to_shanghai


@dataclass(frozen=True)
class DrawTimingRule:
    segment: str
    max_working_days_before: int
    except_procedures: frozenset[str]
    except_region_rules: frozenset[str]
    source: str

    @property
    def id(self) -> str:
        return f"draw.timing.{self.segment}"

    def applies(self, procedure: str | None, region_rule: str) -> bool:
        return procedure not in self.except_procedures and region_rule not in self.except_region_rules


@functools.cache
def draw_timing_rules() -> dict[str, DrawTimingRule]:
    data = json.loads(resources.files("expert_pool").joinpath("data/draw_timing.json").read_text(encoding="utf-8"))
    return {row["segment"]: DrawTimingRule(
        segment=row["segment"], max_working_days_before=int(row["max_working_days_before"]),
        except_procedures=frozenset(row.get("except_procedures", ())),
        except_region_rules=frozenset(row.get("except_region_rules", ())), source=row["source"])
        for row in data["rules"]}


def too_early(segment: str | None, procedure: str | None, region_rule: str, *, evaluation_at: datetime,
              now: datetime, calendar: WorkingCalendar | None = None) -> tuple[DrawTimingRule, str] | None:
    """The rule a draw made ``now`` breaks, and why; None when it may be made."""
    rule = draw_timing_rules().get(segment or "")
    if rule is None or not rule.applies(procedure, region_rule):
        return None
    calendar = calendar or WorkingCalendar.default()
    today, evaluation_day = to_shanghai(now).date(), to_shanghai(evaluation_at).date()
    ahead = calendar.working_days_between(today, evaluation_day)
    if ahead <= rule.max_working_days_before:
        return None
    earliest = calendar.add_working_days(evaluation_day, -rule.max_working_days_before)
    return rule, (f"a {segment} committee is drawn no earlier than {rule.max_working_days_before} working days "
                  f"before the evaluation ({rule.source}); the evaluation on {evaluation_day} is {ahead} working "
                  f"days away: draw on or after {earliest}")
