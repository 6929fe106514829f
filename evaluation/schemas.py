"""Inputs of the evaluation session's HTTP side: opening a session (a lot's first, or its
re-evaluation after an upheld objection to the candidate publicity).

The settings a centre may choose for one session (review criteria, objective factors, the
threshold of a score "far from the others", the time a bidder has to answer a
clarification) are optional: without them the session takes the method's defaults. A
threshold is a number of points given as JSON text, like money, so it never passes
through a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from core.errors import FieldError, InvalidInput
from core.schemas import Input

VenueName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_SECONDARY_VENUES = 20
DEFAULT_CLARIFICATION_MINUTES = 30
DEFAULT_ABNORMAL_SCORE_THRESHOLD = Decimal("20")


def _points_text(value: object) -> Decimal:
    """A number of points as text with at most 2 decimal places, e.g. "15" or "7.50"."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a number as text, got {value!r}") from None
    else:
        raise ValueError(f'points are given as text, e.g. "15.00", not {value!r}')
    if not number.is_finite() or not Decimal(0) < number <= Decimal(100):
        raise ValueError(f"the threshold is above 0 and at most 100 points, got {number}")
    if number != number.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise ValueError(f"the threshold has at most 2 decimal places, got {number}")
    return number.quantize(Decimal("0.01"))


Points = Annotated[Decimal, BeforeValidator(_points_text)]


class SessionOpen(Input):
    """What centre staff give to open a lot's evaluation session."""

    draw_id: int | None = Field(default=None, ge=1, description="The expert draw that formed this lot's committee "
                                "(filled). Required for a lot's first session; a re-evaluation keeps the previous "
                                "session's draw (the same experts) unless a new draw is named here.")
    reevaluation_of: int | None = Field(default=None, ge=1, description="For a re-evaluation (复核/重新评审) after an "
                                        "upheld objection to the candidate publicity: the lot's finished session "
                                        "whose result was withdrawn.")
    main_venue: VenueName = Field(description="Where the session is hosted (the chair's venue); for a draw "
                                  "across venues, the draw's main venue.")
    secondary_venues: list[VenueName] = Field(default_factory=list, max_length=MAX_SECONDARY_VENUES,
                                              description="Other venues experts may sign in from; for a draw "
                                              "across venues, exactly the draw's secondary venues, each expert "
                                              "signing in at the venue they were drawn for.")
    review_criteria: list[Label] | None = Field(default=None, min_length=1, max_length=50,
                                                description="Preliminary-review criteria (default: the method's).")
    objective_factors: list[Label] | None = Field(default=None, max_length=50,
                                                  description="Scored factors every expert must score alike.")
    abnormal_score_threshold: Points | None = Field(
        default=None, description="Points between a member's score and the median of the other members' "
        "scores of the same bid and factor beyond which the score is flagged as abnormal (畸高畸低).")
    clarification_minutes: int | None = Field(default=None, ge=5, le=24 * 60,
                                              description="Time a bidder has to answer a clarification.")

    @model_validator(mode="after")
    def _draw_of_a_first_session(self) -> SessionOpen:
        if self.draw_id is None and self.reevaluation_of is None:
            raise InvalidInput("a lot's first evaluation session needs the draw that formed its committee",
                               [FieldError("$.draw_id", "required unless the session is a re-evaluation")])
        return self

    @model_validator(mode="after")
    def _distinct(self) -> SessionOpen:
        venues = [self.main_venue, *self.secondary_venues]
        if len(set(venues)) != len(venues):
            raise ValueError("each venue is named once (the main venue is not also a secondary one)")
        for name, values in (("review criteria", self.review_criteria), ("objective factors", self.objective_factors)):
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"the {name} are named once each")
        return self

    @property
    def venues(self) -> list[str]:
        return [self.main_venue, *self.secondary_venues]


def parse(model: type[Input], data: Any) -> Any:
    """``model`` from a JSON object, or InvalidInput naming every bad field ($.field)."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = [FieldError(_pointer(item["loc"]), _message(item)) for item in error.errors()]
        summary = "; ".join(f"{f.pointer}: {f.message}" for f in fields[:5])
        raise InvalidInput(f"invalid fields: {summary}", fields) from None


def _pointer(location: tuple[Any, ...]) -> str:
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown field"
    return str(item["msg"]).removeprefix("Value error, ")
