"""Admission rules as data (DOMAIN.md "Expert pool"); checked, never scattered in ifs.

Tracks: the general rule (8+ years in the field and a senior title) and government
procurement's (8+ years with a mid-level title, or a senior title; under 70). The ages
and years are the published national figures; provinces may tighten them by changing
this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from expert_pool.states import Title


@dataclass(frozen=True)
class AdmissionRule:
    track: str
    min_years: int
    titles: frozenset[Title]
    max_age: int | None


ADMISSION_RULES: dict[str, AdmissionRule] = {
    "general": AdmissionRule("general", min_years=8, titles=frozenset({Title.SENIOR}), max_age=None),
    "government_procurement": AdmissionRule(
        "government_procurement", min_years=8, titles=frozenset({Title.SENIOR, Title.MID}), max_age=70),
}


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def admission_problems(track: str, *, title: Title, years_of_practice: int, birth_date: date,
                       today: date) -> list[str]:
    """Every rule of ``track`` the candidate fails, each as a sentence naming the rule."""
    rule = ADMISSION_RULES[track]
    problems = []
    if years_of_practice < rule.min_years:
        problems.append(f"{track}: at least {rule.min_years} years of practice are required, "
                        f"not {years_of_practice}")
    if title not in rule.titles:
        allowed = " or ".join(sorted(rule.titles))
        problems.append(f"{track}: a {allowed} title is required, not {title}")
    if rule.max_age is not None and age_on(birth_date, today) >= rule.max_age:
        problems.append(f"{track}: experts must be under {rule.max_age}; this one is {age_on(birth_date, today)}")
    return problems
