"""Inputs and outputs of the expert-pool use cases."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.person_id import InvalidPersonId, birth_date_of, validate_person_id
from core.schemas import Input, Output
from core.uscc import InvalidUSCC, validate_uscc
from expert_pool.classification import SpecialtyError, default_classification
from expert_pool.rules import ADMISSION_RULES
from expert_pool.states import RelationKind, Title

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
SpecialtyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[ABCabc](\d{2}){1,4}$")]
MOBILE = re.compile(r"^1[3-9]\d{9}$")


class ExpertCreate(Input):
    name: Name
    id_number: str = Field(description="Resident ID number, GB 11643 (18 characters).")
    phone: str = Field(description="Mainland mobile number, 11 digits.")
    employer_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    employer_uscc: str | None = None
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    title: Title
    years_of_practice: int = Field(ge=0, le=70)
    specialties: list[SpecialtyCode] = Field(min_length=1, max_length=20)
    track: str = Field(default="general", description="Admission rule set: general or government_procurement.")

    @field_validator("specialties")
    @classmethod
    def _known_specialties(cls, value: list[str]) -> list[str]:
        table = default_classification()
        try:
            return [table.validate(code) for code in value]
        except SpecialtyError as error:
            raise ValueError(str(error)) from None

    @field_validator("id_number")
    @classmethod
    def _valid_id_number(cls, value: str) -> str:
        try:
            return validate_person_id(value)
        except InvalidPersonId as error:
            raise ValueError(str(error)) from None

    @field_validator("phone")
    @classmethod
    def _valid_phone(cls, value: str) -> str:
        digits = value.strip().removeprefix("+86").removeprefix("86") if len(value.strip()) > 11 else value.strip()
        if not MOBILE.match(digits):
            raise ValueError(f"{value!r} is not a mainland mobile number (11 digits starting 13-19)")
        return digits

    @field_validator("employer_uscc")
    @classmethod
    def _valid_uscc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_uscc(value)
        except InvalidUSCC as error:
            raise ValueError(str(error)) from None

    @field_validator("track")
    @classmethod
    def _known_track(cls, value: str) -> str:
        if value not in ADMISSION_RULES:
            raise ValueError(f"unknown track {value!r}: one of {', '.join(sorted(ADMISSION_RULES))}")
        return value

    @property
    def birth_date(self) -> date:
        return birth_date_of(self.id_number)


class StatusChange(Input):
    reason: Reason


class Suspension(Input):
    reason: Reason
    until: date


class Renewal(Input):
    term_until: date


class Admission(Input):
    term_until: date
    track: str = "general"


class RelationCreate(Input):
    kind: RelationKind
    party_uscc: str
    party_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    start_date: date | None = None
    end_date: date | None = None

    @field_validator("party_uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        try:
            return validate_uscc(value)
        except InvalidUSCC as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="after")
    def _ordered(self) -> RelationCreate:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class UnavailabilityCreate(Input):
    start_date: date
    end_date: date
    reason: Reason

    @model_validator(mode="after")
    def _ordered(self) -> UnavailabilityCreate:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ExpertOut(Output):
    id: int
    code: str
    name: str
    employer_name: str
    employer_uscc: str | None
    region_code: str
    title: str
    years_of_practice: int
    status: str
    status_reason: str | None
    suspended_until: date | None
    term_until: date | None
    specialties: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


REGION_CODE = re.compile(r"^\d{6}$")
MAX_VENUES = 10  # the main venue and up to nine secondary venues (a shared-seat catalogue is larger)
MAX_QUOTA = 50
VenueText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _checked_quotas(value: dict[str, int], where: str) -> dict[str, int]:
    """Known specialty codes (normalised) with a quota of 1 to 50; ``where`` prefixes each message."""
    table = default_classification()
    checked = {}
    for code, count in value.items():
        try:
            code = table.validate(code)
        except SpecialtyError as error:
            raise ValueError(f"{where}{error}") from None
        if not 1 <= count <= MAX_QUOTA:
            raise ValueError(f"{where}quota for {code} must be 1 to {MAX_QUOTA}, not {count}")
        if code in checked:
            raise ValueError(f"{where}specialty {code} is given twice")
        checked[code] = count
    return checked


class DrawVenue(Input):
    """One venue of a draw for remote off-site evaluation: where its experts sit, the region
    they are drawn from, and how many of each specialty it needs."""

    name: VenueText = Field(description="The venue's name, as the evaluation session names it.")
    place: VenueText | None = Field(default=None, description="What the venue's experts are told: the address "
                                    "and room (default: the name). Never shown to another venue's experts.")
    region_code: str = Field(description="Experts of this region (6 digits; 330000 covers 330100) serve here.")
    quotas: dict[str, int] = Field(default_factory=dict, validate_default=True,
                                   description="Experts per specialty at this venue, e.g. {\"A04\": 2}.")

    @field_validator("region_code")
    @classmethod
    def _region(cls, value: str, info: ValidationInfo) -> str:
        if not REGION_CODE.match(value):
            raise ValueError(f"{_venue_label(info)}region_code must be 6 digits (e.g. 330100), not {value!r}")
        return value

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        if not value:
            raise ValueError(f"{_venue_label(info)}quotas: at least one specialty quota is needed, e.g. {{\"A04\": 2}}")
        if len(value) > 20:
            raise ValueError(f"{_venue_label(info)}quotas: at most 20 specialties, not {len(value)}")
        return _checked_quotas(value, _venue_label(info))

    @property
    def where(self) -> str:
        return self.place or self.name


def _venue_label(info: ValidationInfo) -> str:
    name = info.data.get("name")
    return f"venue {name!r}: " if name else ""


class DrawRequest(Input):
    """What centre staff ask for; the parties to avoid come from trading as data.

    ``region_rule`` local or remote_pool: one ``venue`` and one set of ``quotas``. ``venues``
    (remote off-site evaluation): a ``main_venue`` and one or more ``secondary_venues``, each
    with its own region and quotas; experts are drawn for each venue from its own region."""

    lot_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    evaluation_at: datetime
    region_rule: str = Field(default="local", pattern=r"^(local|remote_pool|venues)$",
                             description="local: experts of region_code only; remote_pool: the whole pool; "
                             "venues: a main and secondary venues, each drawing from its own region")
    venue: VenueText | None = Field(default=None, validate_default=True,
                                    description="Where the evaluation takes place (local and remote_pool).")
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    quotas: dict[SpecialtyCode, int] = Field(default_factory=dict, max_length=20, validate_default=True)
    main_venue: DrawVenue | None = Field(default=None, validate_default=True,
                                         description="region_rule venues: the venue hosting the session.")
    secondary_venues: list[DrawVenue] = Field(default_factory=list, validate_default=True,
                                              description="region_rule venues: the venues assisting it.")
    avoid_parties: list[str] = Field(default_factory=list, max_length=500)
    segment: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = Field(
        default=None, description="The lot's segment: some segments limit how early a draw may be made.")
    procedure: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = Field(
        default=None, description="The lot's procedure (some are excepted from the draw-timing rule).")

    @field_validator("venue")
    @classmethod
    def _one_venue(cls, value: str | None, info: ValidationInfo) -> str | None:
        rule = info.data.get("region_rule")
        if rule == "venues" and value is not None:
            raise ValueError("a venue draw names its venues in main_venue and secondary_venues, not in venue")
        if rule in ("local", "remote_pool") and value is None:
            raise ValueError(f"region_rule {rule} needs the venue (where the evaluation takes place)")
        return value

    @field_validator("quotas")
    @classmethod
    def _known_and_positive(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        rule = info.data.get("region_rule")
        if rule == "venues" and value:
            raise ValueError("a venue draw gives its quotas per venue (main_venue.quotas, secondary_venues[].quotas)")
        if rule in ("local", "remote_pool") and not value:
            raise ValueError("at least one specialty quota is needed, e.g. {\"A04\": 3}")
        return _checked_quotas(value, "")

    @field_validator("main_venue")
    @classmethod
    def _main_venue(cls, value: DrawVenue | None, info: ValidationInfo) -> DrawVenue | None:
        rule = info.data.get("region_rule")
        if rule == "venues" and value is None:
            raise ValueError("region_rule venues needs the main venue (name, region_code, quotas)")
        if rule in ("local", "remote_pool") and value is not None:
            raise ValueError(f"main_venue is for region_rule venues, not {rule}")
        return value

    @field_validator("secondary_venues")
    @classmethod
    def _secondary_venues(cls, value: list[DrawVenue], info: ValidationInfo) -> list[DrawVenue]:
        rule = info.data.get("region_rule")
        if rule in ("local", "remote_pool"):
            if value:
                raise ValueError(f"secondary_venues are for region_rule venues, not {rule}")
            return value
        if rule != "venues":
            return value
        if not value:
            raise ValueError("region_rule venues needs at least one secondary venue (otherwise draw with local)")
        if len(value) + 1 > MAX_VENUES:
            raise ValueError(f"at most {MAX_VENUES} venues (the main venue and {MAX_VENUES - 1} secondary venues), "
                             f"not {len(value) + 1}")
        main = info.data.get("main_venue")
        seen = {main.name: "the main venue"} if isinstance(main, DrawVenue) else {}
        for index, venue in enumerate(value):
            if venue.name in seen:
                raise ValueError(f"venue name {venue.name!r} of secondary venue {index + 1} is already "
                                 f"{seen[venue.name]}'s: each venue is named once")
            seen[venue.name] = f"secondary venue {index + 1}"
        return value

    @field_validator("avoid_parties")
    @classmethod
    def _valid_parties(cls, value: list[str]) -> list[str]:
        try:
            return sorted({validate_uscc(code) for code in value})
        except InvalidUSCC as error:
            raise ValueError(str(error)) from None

    @field_validator("evaluation_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("evaluation_at needs a UTC offset")
        return value

    @model_validator(mode="after")
    def _local_needs_region(self) -> DrawRequest:
        if self.region_rule == "local" and self.region_code is None:
            raise ValueError("region_rule local needs a region_code")
        if self.region_rule == "venues" and self.region_code is not None:
            raise ValueError("a venue draw gives each venue its own region_code, not a region_code for the draw")
        return self

    @property
    def venues(self) -> list[DrawVenue]:
        """The main venue then the secondary ones (empty unless region_rule is venues)."""
        return [self.main_venue, *self.secondary_venues] if self.main_venue is not None else []


class DrawVenueOut(Output):
    """A venue of a draw as centre staff see it: its quotas and how many have accepted, never who."""

    key: str
    name: str
    place: str
    region_code: str
    main: bool
    quotas: dict[str, int]
    accepted: int = 0


class DrawOut(Output):
    """A draw as centre staff see it: counts and commitments, never names."""

    id: int
    lot_reference: str
    evaluation_at: datetime
    venue: str
    region_rule: str
    quotas: dict[str, int]
    venues: list[DrawVenueOut] | None = None
    status: str
    seed_commitment: str
    snapshot_commitment: str
    created_at: datetime


RATINGS = ("excellent", "good", "fair", "poor")
VIOLATION_KINDS = ("absent", "left_early", "disclosed_confidential", "unfair_scoring", "undeclared_conflict",
                   "accepted_benefit", "other")
PENALTIES = ("none", "warning", "suspension", "dismissal")


class AssessmentIn(Input):
    """The centre's assessment of an expert's work in one evaluation."""

    rating: str = Field(description=f"one of {', '.join(RATINGS)}")
    remarks: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None

    @field_validator("rating")
    @classmethod
    def _known_rating(cls, value: str) -> str:
        if value not in RATINGS:
            raise ValueError(f"rating must be one of {', '.join(RATINGS)}, not {value!r}")
        return value


class ViolationIn(Input):
    """A breach of the rules by an expert and the penalty the authority decided."""

    kind: str = Field(description=f"one of {', '.join(VIOLATION_KINDS)}")
    description: Reason
    penalty: str = Field(default="none", description=f"one of {', '.join(PENALTIES)}; a suspension or dismissal "
                         "is then made by the lifecycle endpoints, citing the violation")
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="What it concerns, e.g. evaluation:12.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in VIOLATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(VIOLATION_KINDS)}, not {value!r}")
        return value

    @field_validator("penalty")
    @classmethod
    def _known_penalty(cls, value: str) -> str:
        if value not in PENALTIES:
            raise ValueError(f"penalty must be one of {', '.join(PENALTIES)}, not {value!r}")
        return value
