"""Who a certificate speaks for: a party by its credit code, or a person by ID number."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from asn1crypto import x509

from core.uscc import InvalidUSCC, validate_uscc


@dataclass(frozen=True)
class CertificateIdentity:
    name: str
    uscc: str | None = None
    person_id: str | None = None
    organization: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


_NAME_KEYS = {
    "organization_identifier": "organization_identifier",
    "serial_number": "serial_number",
    "organizational_unit": "organizational_unit_name",
    "common_name": "common_name",
}


def identity_of(cert: x509.Certificate, rule: dict[str, Any]) -> CertificateIdentity | str:
    """The identity under the CA's rule, or a sentence saying why none could be read.

    A credit code must pass its GB 32100-2015 check character; a certificate without one
    is a person's certificate (experts), identified by the ID number in serialNumber.
    """
    subject = _attributes(cert)
    name = subject.get("common_name", "")
    organization = subject.get("organization_name")
    location = rule.get("credit_code_in", "organization_identifier")
    raw = subject.get(_NAME_KEYS.get(location, "organization_identifier"))
    if raw and rule.get("pattern"):
        match = re.search(rule["pattern"], raw)
        raw = match.group(1) if match else None
    if raw and location != "serial_number" or (raw and _looks_like_uscc(raw)):
        try:
            return CertificateIdentity(name=name, uscc=validate_uscc(_strip_prefix(raw)), organization=organization)
        except InvalidUSCC as error:
            return f"the certificate's credit code is not valid: {error}"
    person_id = subject.get("serial_number")
    if person_id:
        return CertificateIdentity(name=name, person_id=person_id, organization=organization)
    return CertificateIdentity(name=name, organization=organization)


def _strip_prefix(value: str) -> str:
    # ETSI EN 319 412-1 writes organizationIdentifier with a scheme prefix ("NTRCN-...").
    return value.split("-", 1)[1] if re.match(r"^[A-Z]{3}[A-Z]{2}[-:]", value) else value


def _looks_like_uscc(value: str) -> bool:
    return len(_strip_prefix(value)) == 18 and not _strip_prefix(value).isdigit()


def _attributes(cert: x509.Certificate) -> dict[str, str]:
    found: dict[str, str] = {}
    for rdn in cert.subject.chosen:
        for attribute in rdn:
            key = attribute["type"].native
            value = attribute["value"].native
            if isinstance(value, str):
                found.setdefault(key, value)
    return found
