"""Inputs and outputs of the identity use cases; validation lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from core.actors import PARTY_ROLES, Role
from core.schemas import Input, Output
from core.uscc import InvalidUSCC, validate_uscc

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{2,63}$")]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
IndustryCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]


class PartyCreate(Input):
    uscc: str = Field(description="Unified social credit code, GB 32100-2015 (18 characters).")
    name: DisplayName
    region_code: RegionCode | None = Field(default=None, description="Administrative division, 6 digits.")

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        try:
            return validate_uscc(value)
        except InvalidUSCC as error:
            raise ValueError(str(error)) from None


class PartyOut(Output):
    id: int
    uscc: str
    name: str
    region_code: str | None
    created_at: datetime


class UserCreate(Input):
    username: Username
    display_name: DisplayName
    password: Password
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    party_id: int | None = None
    jurisdiction: RegionCode | None = Field(default=None, description="Regulators: division code they oversee.")
    industries: list[IndustryCode] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _role_requirements(self) -> UserCreate:
        check_role_requirements(set(self.roles), self.party_id, self.jurisdiction)
        return self


class UserUpdate(Input):
    display_name: DisplayName | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=len(Role))
    party_id: int | None = None
    jurisdiction: RegionCode | None = None
    industries: list[IndustryCode] | None = Field(default=None, max_length=20)
    active: bool | None = None


def check_role_requirements(roles: set[Role], party_id: int | None, jurisdiction: str | None) -> None:
    """Bidders, tenderers and agencies act for a party; regulators oversee a jurisdiction."""
    if roles & PARTY_ROLES and party_id is None:
        raise ValueError("roles bidder, tenderer and agency need a party_id")
    if Role.REGULATOR in roles and jurisdiction is None:
        raise ValueError("role regulator needs a jurisdiction")


class UserOut(Output):
    id: int
    username: str
    display_name: str
    roles: list[Role]
    party_id: int | None
    jurisdiction: str | None
    industries: list[str]
    active: bool
    created_at: datetime


class LoginRequest(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PasswordChange(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class TokenCreate(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_in_days: int = Field(default=90, ge=1, le=365)


class TokenOut(Output):
    id: int
    kind: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenIssued(Output):
    """The only time the secret is shown; the platform keeps its hash alone."""

    id: int
    token: str
    kind: str
    name: str
    expires_at: datetime


class PartyPage(Output):
    items: list[PartyOut]
    total: int
    offset: int
    limit: int


class UserPage(Output):
    items: list[UserOut]
    total: int
    offset: int
    limit: int


class ChallengeOut(Output):
    """Sign ``to_sign`` (UTF-8) with a detached CMS signature and send it back with the nonce."""

    nonce: str
    to_sign: str
    expires_at: datetime


class CertificateProof(Input):
    nonce: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    signature: Annotated[str, StringConstraints(min_length=1, max_length=400_000)] = Field(
        description="Base64 of a detached DER CMS signature over the challenge's to_sign bytes."
    )


class BoundCertificateOut(Output):
    id: int
    fingerprint: str
    subject: str
    ca_name: str
    uscc: str | None
    person_id: str | None
    not_after: datetime
    bound_at: datetime
