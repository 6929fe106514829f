"""The whole-lot check behind adding and editing a draft lot.

A lot's fields depend on each other and on its project (the evaluation method on the
segment, the fewest bidders on the procedure, the custodians on the fallback, the bid bond
on the budget), so the check runs on the merged set of fields, whether they came from a
new lot or a patch.

The bid bond's cap (2% of the budget in construction and government procurement) comes
from the rule table. The cap is a share of the budget, so on a capped segment a lot with a
bond but no budget is refused too: a ceiling price is not the estimate the law names, and
guessing a base would let a bond through that the law may forbid. A lot without a bond,
or on a segment without a cap, is not concerned.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from cryptography import x509

from core.errors import FieldError, InvalidInput, RuleViolation
from trading import rules
from trading.evaluation_methods import validate_method
from trading.models import Project

# Columns a lot's input sets directly (the timetable comes apart, see TIMETABLE_COLUMNS).
LOT_INPUT_COLUMNS = ("title", "budget", "ceiling_price", "evaluation_method", "evaluation_parameters",
                     "bid_bond_amount", "min_bidders", "custodian_fallback", "custodian_certificates",
                     "custodian_threshold")
TIMETABLE_COLUMNS = ("documents_from", "documents_until", "clarification_until", "objection_until",
                     "bid_deadline", "opening_at")


def lot_values(project: Project, fields: dict[str, Any]) -> dict[str, Any]:
    """The column values of a lot of ``project`` with ``fields``, or InvalidInput naming
    every field that is wrong."""
    errors: list[FieldError] = []
    for name in ("title", "evaluation_method", "timetable"):
        if fields.get(name) is None:
            errors.append(FieldError(f"$.{name}", "required"))
    if fields.get("budget") is None and fields.get("ceiling_price") is None:
        errors.append(FieldError("$.budget", "a lot needs a budget or a ceiling price"))
    if errors:
        raise InvalidInput(_summary("the lot is incomplete", errors), errors)
    parameters = validate_method(project.segment, fields["evaluation_method"],
                                 fields.get("evaluation_parameters") or {})
    _check_bid_bond(project, fields.get("bid_bond_amount"), fields.get("budget"))
    values = {name: fields.get(name) for name in LOT_INPUT_COLUMNS}
    values["evaluation_parameters"] = parameters
    values["min_bidders"] = _min_bidders(project, fields.get("min_bidders"))
    values.update(_custodians(fields))
    timetable = fields["timetable"]
    values.update({name: getattr(timetable, name) for name in TIMETABLE_COLUMNS})
    return values


def _min_bidders(project: Project, given: int | None) -> int:
    legal = rules.minimum_bidders(project.segment, project.procedure)
    if given is None:
        return legal
    if given < legal:
        raise InvalidInput(f"min_bidders is {given}; {project.procedure} in {project.segment} needs at least {legal}",
                           [FieldError("$.min_bidders", f"at least {legal}")])
    return given


def _check_bid_bond(project: Project, bond: Decimal | None, budget: Decimal | None) -> None:
    """RuleViolation naming the cap's rule and law when the bond is above the cap, or when
    a capped bond has no budget to be measured against."""
    cap = rules.bid_bond_cap(project.segment, project.procedure)
    if cap is None or not bond:
        return
    law = f"{cap.id}: the bid bond may not exceed {cap.percent}% of the lot's budget ({cap.source})"
    if budget is None:
        raise RuleViolation(f"{law}; the lot has a bid bond of {bond} yuan but no budget to measure it "
                            "against: give the budget (the estimate) or no bond", rule=cap.id)
    if bond > cap.maximum(budget):
        allowed = cap.maximum(budget).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        raise RuleViolation(f"{law}; the bond is {bond} yuan, the budget of {budget} yuan allows at most "
                            f"{allowed} yuan", rule=cap.id)


def _custodians(fields: dict[str, Any]) -> dict[str, Any]:
    """Custodian certificates and threshold, required with the fallback and refused without."""
    fallback = bool(fields.get("custodian_fallback"))
    certificates = fields.get("custodian_certificates") or []
    threshold = fields.get("custodian_threshold")
    errors: list[FieldError] = []
    if not fallback:
        if certificates or threshold is not None:
            errors.append(FieldError("$.custodian_fallback",
                                     "custodian certificates and threshold are given only with the custodian fallback"))
        if errors:
            raise InvalidInput(_summary("custodians without the fallback", errors), errors)
        return {"custodian_fallback": False, "custodian_certificates": None, "custodian_threshold": None}
    if len(certificates) < 2:
        errors.append(FieldError("$.custodian_certificates", "the custodian fallback needs at least 2 custodians"))
    for index, pem in enumerate(certificates):
        try:
            x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            errors.append(FieldError(f"$.custodian_certificates[{index}]", "not a PEM X.509 certificate"))
    if threshold is None or not 2 <= threshold <= max(len(certificates), 2):
        errors.append(FieldError("$.custodian_threshold",
                                 f"between 2 and the number of custodians ({len(certificates)})"))
    if errors:
        raise InvalidInput(_summary("the custodian fallback is not complete", errors), errors)
    return {"custodian_fallback": True, "custodian_certificates": list(certificates), "custodian_threshold": threshold}


def _summary(what: str, errors: list[FieldError]) -> str:
    return f"{what}: " + "; ".join(f"{e.pointer}: {e.message}" for e in errors[:5])
