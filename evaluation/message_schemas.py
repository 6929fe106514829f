"""The fields of the committee's and the bidders' channel messages, validated.

Each stage handler parses its message with ``evaluation.schemas.parse`` first, so a malformed message is
refused before anything is read or written, with one field error per problem named by its
JSON path (``$.marks.qualification.reason``, ``$.scores.technical``). Rules that need the
session (which criteria, which factors and their maxima, who may act) are the handlers';
this module knows only the shape of a message.

Scores travel as decimal text ("8.5"): JSON numbers would go through floats on many
clients, and no float may reach a score.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, PlainValidator, StringConstraints

from core.schemas import Input

MAX_SIGNATURE_BASE64 = 700_000
SCORE_PLACES = Decimal("0.01")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
BidId = Annotated[int, Field(ge=1)]


def _points(value: Any) -> Decimal:
    """Decimal text (or a whole number) with at most two places; bounds are the handler's."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError('give a score as decimal text, e.g. "8.5"')
    if isinstance(value, str) and len(value) > 20:
        raise ValueError("a score has at most 20 characters")
    try:
        points = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not points.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if points != points.quantize(SCORE_PLACES):
        raise ValueError(f"a score has at most 2 decimal places, got {value}")
    return points.quantize(SCORE_PLACES)


def _signature(value: Any) -> bytes:
    """Base64 of a DER detached CMS signature, decoded strictly."""
    if not isinstance(value, str) or not value:
        raise ValueError("give the signature as base64 text of a DER detached CMS signature")
    if len(value) > MAX_SIGNATURE_BASE64:
        raise ValueError(f"the signature is longer than {MAX_SIGNATURE_BASE64} base64 characters")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signature is not valid base64") from None


Points = Annotated[Decimal, PlainValidator(_points)]
Signature = Annotated[bytes, PlainValidator(_signature)]


class Mark(Input):
    passed: bool
    reason: Reason | None = None


class ReviewMessage(Input):
    """A member's pass/fail of one bid against every review criterion."""

    bid_id: BidId
    marks: dict[Name, Mark] = Field(min_length=1, max_length=100)


class AskClarification(Input):
    bid_id: BidId
    question: Text
    minutes: int | None = Field(default=None, description="Time the bidder has to answer.")


class AnswerClarification(Input):
    """The answer is kept exactly as sent: the signature covers these very characters."""

    clarification_id: Annotated[int, Field(ge=1)]
    answer: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    signature: Signature


class ScoreMessage(Input):
    bid_id: BidId
    scores: dict[Name, Points] = Field(min_length=1, max_length=100)


class ConfirmScore(Input):
    bid_id: BidId
    factor: Name
    reason: Reason


class RequestRescore(Input):
    bid_id: BidId
    factor: Name
    reason: Reason


class AcceptResults(Input):
    pass


class DissentMessage(Input):
    text: Text
    bid_id: BidId | None = None


class SignReport(Input):
    signature: Signature
