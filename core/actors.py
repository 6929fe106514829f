"""Who is acting: the roles of the platform and the identity every use case receives.

An :class:`Actor` travels from the boundary (HTTP request, websocket message, task, command
line) into every service function. Services decide with it what is allowed and write it
into the ledger, so it carries what the trace must show: user, role, certificate
fingerprint and source address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    BIDDER = "bidder"
    TENDERER = "tenderer"
    AGENCY = "agency"
    CENTER_STAFF = "center_staff"
    EXPERT = "expert"
    EXPERT_ADMIN = "expert_admin"
    REGULATOR = "regulator"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Roles that act for an organisation and must belong to a party.
PARTY_ROLES = frozenset({Role.BIDDER, Role.TENDERER, Role.AGENCY})


@dataclass(frozen=True)
class Actor:
    """The acting identity of one request, message or task."""

    user_id: int | None
    username: str
    roles: frozenset[Role]
    party_id: int | None = None
    jurisdiction: str | None = None
    industries: frozenset[str] = field(default_factory=frozenset)
    cert_fingerprint: str | None = None
    source_address: str | None = None

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        return bool(self.roles & roles)

    def trace(self) -> dict[str, object]:
        """What the ledger records of this actor."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "roles": sorted(self.roles),
            "cert_fingerprint": self.cert_fingerprint,
        }


SYSTEM = Actor(user_id=None, username="system", roles=frozenset({Role.ADMIN}))
"""The platform itself (command line maintenance, periodic jobs)."""
