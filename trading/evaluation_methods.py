"""The catalogue of evaluation methods a lot may name, and the check of their parameters.

A lot stores the method it chose and its parameters when it is drafted; the evaluation
computes with them after the opening. The catalogue is data: each method lists the
segments that may use it, its parameters (kind and range) and the cross-checks the law
adds (weights summing to 100; a government-procurement price weight of at least 30 for
goods and 10 for services, MOF Order 87 art. 55).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import FieldError, InvalidInput
from trading.states import Segment

HUNDRED = Decimal(100)
WEIGHT_PLACES = Decimal("0.01")

# Procurement minimum of the price weight, by what is bought (MOF Order 87 art. 55).
PROCUREMENT_MIN_PRICE_WEIGHT: dict[str, Decimal] = {"goods": Decimal(30), "services": Decimal(10)}
PROCUREMENT_CATEGORIES = ("goods", "services", "works")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a method: ``kind`` is decimal, choice, flag or weights."""

    name: str
    kind: str
    required: bool = True
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class EvaluationMethod:
    code: str
    title: str
    segments: frozenset[Segment]
    parameters: tuple[Parameter, ...] = ()
    weighted: bool = False  # price_weight plus factor weights must make 100
    description: str = ""


_PRICE_WEIGHT = Parameter("price_weight", "decimal", minimum=Decimal(0), maximum=HUNDRED,
                          description="Points of the price score out of 100.")
_FACTORS = Parameter("factors", "weights", description="Other scoring factors: name -> points; with the "
                     "price weight they make 100.")
_CATEGORY = Parameter("procurement_category", "choice", required=False, choices=PROCUREMENT_CATEGORIES,
                      description="Government procurement: what is bought (sets the minimum price weight).")
_ABNORMALLY_LOW = Parameter("abnormally_low_ratio", "decimal", required=False, minimum=Decimal("0.50"),
                            maximum=Decimal("1.00"), description="Below this share of the average valid price a "
                            "bid must justify its price (default in evaluation/data/method_rules.json).")
_DROP_EXTREMES = Parameter("drop_extreme_member_scores", "flag", required=False,
                           description="Drop each factor's highest and lowest member score (some provinces).")

CATALOGUE: dict[str, EvaluationMethod] = {method.code: method for method in (
    EvaluationMethod(
        "lowest_evaluated_price", "Lowest evaluated price (经评审的最低投标价法)",
        frozenset({Segment.CONSTRUCTION, Segment.GOVERNMENT_PROCUREMENT}), (_ABNORMALLY_LOW,),
        description="The lowest price among the bids that pass the review wins."),
    EvaluationMethod(
        "comprehensive_scoring", "Comprehensive scoring (综合评分法)",
        frozenset(Segment), (_PRICE_WEIGHT, _FACTORS, _CATEGORY, _DROP_EXTREMES, _ABNORMALLY_LOW), weighted=True,
        description="Price score (lowest valid price / bid price x price weight) plus factor scores."),
    EvaluationMethod(
        "reasonable_lowest_price", "Reasonable lowest price (合理低价法)", frozenset({Segment.CONSTRUCTION}),
        (_ABNORMALLY_LOW,),
        description="The lowest price not below a reasonable floor wins."),
    EvaluationMethod(
        "benchmark_price", "Benchmark price scoring (基准价法)", frozenset({Segment.CONSTRUCTION}),
        (_PRICE_WEIGHT, _FACTORS,
         Parameter("benchmark_basis", "choice", choices=("average", "average_without_extremes", "ceiling_ratio"),
                   description="How the benchmark price is derived from the valid bids."),
         Parameter("ceiling_share", "decimal", required=False, minimum=Decimal("0.50"), maximum=Decimal("1.00"),
                   description="ceiling_ratio basis: the benchmark is this share of the ceiling price "
                   "(default in evaluation/data/method_rules.json)."),
         Parameter("downward_float_percent", "decimal", minimum=Decimal(0), maximum=Decimal(10),
                   description="The benchmark is lowered by this percentage."),
         Parameter("deduction_above_percent", "decimal", minimum=Decimal(0), maximum=Decimal(5),
                   description="Points off per percent above the benchmark."),
         Parameter("deduction_below_percent", "decimal", minimum=Decimal(0), maximum=Decimal(5),
                   description="Points off per percent below the benchmark."),
         _DROP_EXTREMES, _ABNORMALLY_LOW),
        weighted=True, description="Price scored by its distance to a benchmark price."),
    EvaluationMethod(
        "highest_price", "Highest price (价高者得)", frozenset({Segment.LAND_MINING, Segment.STATE_PROPERTY}),
        description="Listing, auction and sealed quotes: the highest valid price wins."),
)}


def methods_for(segment: Segment | str) -> list[EvaluationMethod]:
    return [method for method in CATALOGUE.values() if segment in method.segments]


def validate_method(segment: Segment | str, code: str, parameters: dict[str, Any],
                    pointer: str = "$.evaluation_parameters") -> dict[str, Any]:
    """Check ``code`` and its ``parameters`` for ``segment``; return them normalised.

    Decimals come back as strings with two places at most, so they are stored and
    recorded in one spelling. Every problem is reported at once, each with its field.
    """
    method = CATALOGUE.get(code)
    allowed = ", ".join(m.code for m in methods_for(segment))
    if method is None:
        raise InvalidInput(f"unknown evaluation method {code!r}; for {segment}: {allowed}",
                           [FieldError("$.evaluation_method", f"one of {allowed}")])
    if segment not in method.segments:
        raise InvalidInput(f"evaluation method {code} is not used in {segment}; use one of {allowed}",
                           [FieldError("$.evaluation_method", f"one of {allowed}")])
    errors: list[FieldError] = []
    normalised: dict[str, Any] = {}
    known = {p.name for p in method.parameters}
    for name in sorted(set(parameters) - known):
        expected = ", ".join(sorted(known)) or "none"
        errors.append(FieldError(f"{pointer}.{name}", f"not a parameter of {code} (parameters: {expected})"))
    for parameter in method.parameters:
        where = f"{pointer}.{parameter.name}"
        if parameter.name not in parameters:
            if parameter.required:
                errors.append(FieldError(where, f"required by {code}"))
            continue
        value = _check_parameter(parameter, parameters[parameter.name], where, errors)
        if value is not None:
            normalised[parameter.name] = value
    if not errors and method.weighted:
        _check_weights(segment, normalised, pointer, errors)
    if errors:
        summary = "; ".join(f"{e.pointer}: {e.message}" for e in errors[:5])
        raise InvalidInput(f"evaluation parameters of {code} are not valid: {summary}", errors)
    return normalised


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.quantize(WEIGHT_PLACES, rounding="ROUND_DOWN"):
        return None
    return number.quantize(WEIGHT_PLACES) if number != number.to_integral_value() else number.quantize(Decimal(1))


def _check_parameter(parameter: Parameter, raw: Any, where: str, errors: list[FieldError]) -> Any:
    if parameter.kind == "flag":
        if not isinstance(raw, bool):
            errors.append(FieldError(where, "expected true or false"))
            return None
        return raw
    if parameter.kind == "choice":
        if raw not in parameter.choices:
            errors.append(FieldError(where, f"expected one of {', '.join(parameter.choices)}, got {raw!r}"))
            return None
        return raw
    if parameter.kind == "weights":
        return _check_factor_weights(raw, where, errors)
    number = _decimal(raw)
    if number is None:
        errors.append(FieldError(where, f"expected a number with at most 2 decimal places (as text), got {raw!r}"))
        return None
    if (parameter.minimum is not None and number < parameter.minimum) or (
            parameter.maximum is not None and number > parameter.maximum):
        errors.append(FieldError(where, f"{number} is outside {parameter.minimum}..{parameter.maximum}"))
        return None
    return str(number)


def _check_factor_weights(raw: Any, where: str, errors: list[FieldError]) -> dict[str, str] | None:
    if not isinstance(raw, dict) or not raw:
        errors.append(FieldError(where, "expected an object of factor name -> points, with at least one factor"))
        return None
    weights: dict[str, str] = {}
    for name, value in raw.items():
        number = _decimal(value)
        if not name.strip() or len(name) > 100:
            errors.append(FieldError(f"{where}.{name}", "a factor needs a name of 1 to 100 characters"))
        elif number is None or not Decimal(0) < number <= HUNDRED:
            errors.append(FieldError(f"{where}.{name}", f"points must be above 0 and at most 100, got {value!r}"))
        else:
            weights[name.strip()] = str(number)
    return weights if len(weights) == len(raw) else None


def _check_weights(segment: Segment | str, values: dict[str, Any], pointer: str, errors: list[FieldError]) -> None:
    price = Decimal(values["price_weight"])
    total = price + sum((Decimal(v) for v in values["factors"].values()), Decimal(0))
    if total != HUNDRED:
        errors.append(FieldError(f"{pointer}.factors",
                                 f"price weight {price} and factor weights make {total}; they must make 100"))
    category = values.get("procurement_category")
    if segment == Segment.GOVERNMENT_PROCUREMENT:
        if category is None:
            errors.append(FieldError(f"{pointer}.procurement_category",
                                     f"required in government procurement: one of {', '.join(PROCUREMENT_CATEGORIES)}"))
        elif category in PROCUREMENT_MIN_PRICE_WEIGHT and price < PROCUREMENT_MIN_PRICE_WEIGHT[category]:
            minimum = PROCUREMENT_MIN_PRICE_WEIGHT[category]
            errors.append(FieldError(f"{pointer}.price_weight", f"government procurement of {category} needs a "
                                     f"price weight of at least {minimum} (MOF Order 87 art. 55), got {price}"))
