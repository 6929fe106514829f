"""Inputs and outputs of the trust-list use cases."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from core.schemas import Input, Output
from identities.trust_states import CreditCodeLocation, RevocationPolicy

CAName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class IdentityRule(Input):
    """Where this CA puts the credit code; ``pattern`` (one group) extracts it from OU/CN."""

    credit_code_in: CreditCodeLocation = CreditCodeLocation.ORGANIZATION_IDENTIFIER
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles_with_one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"pattern is not a valid regular expression: {error}") from None
        if compiled.groups != 1:
            raise ValueError("pattern must have exactly one group capturing the credit code")
        return value

    @model_validator(mode="after")
    def _pattern_where_needed(self) -> IdentityRule:
        needs = {CreditCodeLocation.ORGANIZATIONAL_UNIT, CreditCodeLocation.COMMON_NAME}
        if self.credit_code_in in needs and self.pattern is None:
            raise ValueError(f"credit_code_in {self.credit_code_in} needs a pattern")
        return self


class TrustedCACreate(Input):
    name: CAName
    certificate_pem: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)]
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    revocation_policy: RevocationPolicy = RevocationPolicy.HARD_FAIL
    identity_rule: IdentityRule = Field(default_factory=IdentityRule)


class StatusChange(Input):
    reason: Reason


class TrustedCAOut(Output):
    id: int
    name: str
    region: str | None
    kind: str
    algorithm: str
    subject: str
    fingerprint: str
    not_after: datetime
    revocation_policy: str
    identity_rule: dict[str, Any]
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
