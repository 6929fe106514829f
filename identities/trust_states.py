"""Statuses of a recognised CA and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class CAStatus(StrEnum):
    ACTIVE = "active"  # certificates it issued are recognised
    SUSPENDED = "suspended"  # temporarily not recognised (e.g. an incident under review)
    RETIRED = "retired"  # never again; kept for validating what was signed before


ALLOWED_CA_TRANSITIONS: dict[CAStatus, frozenset[CAStatus]] = {
    CAStatus.ACTIVE: frozenset({CAStatus.SUSPENDED, CAStatus.RETIRED}),
    CAStatus.SUSPENDED: frozenset({CAStatus.ACTIVE, CAStatus.RETIRED}),
    CAStatus.RETIRED: frozenset(),
}


class RevocationPolicy(StrEnum):
    HARD_FAIL = "hard_fail"  # no revocation information: INDETERMINATE / TRY_LATER
    SOFT_FAIL = "soft_fail"  # no revocation information: passes, with a warning in the report


class CreditCodeLocation(StrEnum):
    """Where a CA writes the unified social credit code in a subject name."""

    ORGANIZATION_IDENTIFIER = "organization_identifier"  # 2.5.4.97, the standard place
    SERIAL_NUMBER = "serial_number"  # 2.5.4.5
    ORGANIZATIONAL_UNIT = "organizational_unit"  # OU, matched with a pattern
    COMMON_NAME = "common_name"  # CN, matched with a pattern
