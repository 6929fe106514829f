"""What each evaluation method needs from a lot, read from data.

The lot chose its method and the trading catalogue (``trading.evaluation_methods``)
checked the parameters when the lot was drafted; this module answers the questions the
evaluation session asks before any price is computed: which factors the experts score and
up to how many points, which criteria the preliminary review marks, how many ranked
candidates the segment allows, and the default figures a lot may leave out.

Figures live in ``evaluation/data/method_rules.json`` and the review criteria in
``evaluation/data/review_criteria.json``; figures marked ``"confirmed": false`` are
defaults a tender changes through the lot's parameters (DOMAIN.md convention).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from trading.evaluation_methods import CATALOGUE
from trading.states import Segment

KNOWN_METHODS: tuple[str, ...] = tuple(CATALOGUE)
SCORING_METHODS = frozenset({"comprehensive_scoring", "benchmark_price"})
RULES_FILE = "data/method_rules.json"
CRITERIA_FILE = "data/review_criteria.json"


@functools.cache
def _data(name: str) -> dict[str, Any]:
    return json.loads(resources.files("evaluation").joinpath(name).read_text(encoding="utf-8"))


def rule_value(name: str) -> Any:
    """The default figure ``name`` from method_rules.json (its ``value``)."""
    return _data(RULES_FILE)[name]["value"]


def rule_is_confirmed(name: str) -> bool:
    return bool(_data(RULES_FILE)[name]["confirmed"])


def check_method(method: str) -> str:
    """Return ``method`` if the catalogue knows it; ValueError naming the known ones otherwise."""
    if method not in KNOWN_METHODS:
        raise ValueError(f"unknown evaluation method {method!r}; known methods: {', '.join(KNOWN_METHODS)}")
    return method


def check_segment(segment: str) -> str:
    if segment not in {s.value for s in Segment}:
        known = ", ".join(s.value for s in Segment)
        raise ValueError(f"unknown segment {segment!r}; known segments: {known}")
    return str(segment)


def decimal_parameter(parameters: Mapping[str, Any], name: str, default: Any = None) -> Decimal | None:
    """A decimal parameter as stored by the lot (text such as ``"40"``), or ``default``.

    Floats and booleans are refused: money and points are exact.
    """
    raw = parameters.get(name, default)
    if raw is None:
        return None
    if isinstance(raw, (bool, float)) or not isinstance(raw, (int, str, Decimal)):
        raise ValueError(f"parameter {name} must be a decimal number as text, got {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"parameter {name} must be a decimal number, got {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"parameter {name} must be a finite number, got {raw!r}")
    return value


def scoring_factors(method: str, parameters: Mapping[str, Any]) -> dict[str, Decimal]:
    """Factor name -> maximum points the experts score, for a scoring method; ``{}`` otherwise.

    The price score is computed, never scored by the experts, so it is not a factor here.
    """
    if check_method(method) not in SCORING_METHODS:
        return {}
    factors = parameters.get("factors")
    if not isinstance(factors, Mapping) or not factors:
        raise ValueError(f"{method} needs the parameter factors (factor name -> points)")
    result: dict[str, Decimal] = {}
    for name, points in factors.items():
        value = decimal_parameter(factors, name)
        if value is None or value <= 0:
            raise ValueError(f"factor {name!r} must have points above 0, got {points!r}")
        result[str(name)] = value
    return result


def review_criteria_for(segment: str, method: str) -> list[str]:
    """The default preliminary-review criteria of a lot, in the order members see them."""
    data = _data(CRITERIA_FILE)
    extra = data["methods"].get(check_method(method), [])
    common = list(data["segments"][check_segment(segment)])
    return common + [criterion for criterion in extra if criterion not in common]


def candidate_limit(segment: str) -> int | None:
    """How many ranked candidates the segment allows (construction 3); None: no limit."""
    return rule_value("candidate_limits")[check_segment(segment)]
