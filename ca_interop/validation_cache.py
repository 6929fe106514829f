"""What certificate validation may remember between validations, and what it re-checks.

Two kinds of fact are remembered, both about immutable bytes, in bounded LRU sets:

- signature facts: "this signature over these bytes verifies under this public key"
  (a certificate by its issuer, a CRL by its CA). Keyed on a digest of the public key, the
  algorithm, the signature and the signed bytes, so a forged certificate with the same
  names (other bytes, other signature) is a different key and is verified afresh;
- accepted paths: "the full path validation (pyhanko-certvalidator) passed this exact
  chain, under these trust-list entries and this revocation policy, with exactly these
  CRLs". The key is a digest of the chain's DER, of the trust-list entries met on the way
  (name, certificate, status, policy, status reason) and of each CRL's DER.

Everything that can change is checked again on every validation by :func:`recheck`, before
an accepted path is trusted: each certificate's validity window at the moment asked, the
CA certificates' basic constraints and key usage, each CRL's freshness at that moment, and
the serial number of every certificate of the path against the indexed CRLs. The trust
list's state is checked by the validator itself before it gets here (a suspended or retired
CA fails at once), and usage and identity are read after, as on the full path. Whenever a
check does not clearly pass (a listed serial, a moment near a boundary, a refetched CRL,
OCSP in use) the full path runs instead, so every report is the one it would give.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import x509

from ca_interop.revocation import IndexedCrl

SIGNATURE_FACTS = 50_000
ACCEPTED_PATHS = 20_000


class BoundedSet:
    """A set of byte keys that forgets the least recently used one beyond ``capacity``.

    Guarded by a lock: validations may run in several threads (workers) at once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            if key not in self._keys:
                return False
            self._keys.move_to_end(key)  # type: ignore[arg-type]
            return True

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: bytes) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.capacity:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


@dataclass
class ValidationCaches:
    """The remembered facts, and counters saying how often each path ran.

    ``fast_path=False`` keeps the signature facts but runs the full path every time.
    """

    fast_path: bool = True
    signatures: BoundedSet = field(default_factory=lambda: BoundedSet(SIGNATURE_FACTS))
    paths: BoundedSet = field(default_factory=lambda: BoundedSet(ACCEPTED_PATHS))
    fast_validations: int = 0
    full_validations: int = 0

    def clear(self) -> None:
        self.signatures.clear()
        self.paths.clear()


SHARED_CACHES = ValidationCaches()


def signature_fact(*parts: bytes) -> bytes:
    """The key of one signature fact: the parts, each length-prefixed, hashed."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def path_key(
    certs: Sequence[x509.Certificate],
    anchors_met: Iterable[tuple[str, bytes, str, str, str | None]],
    retroactive: bool,
    crls: Sequence[IndexedCrl],
) -> bytes:
    """The key of an accepted path: chain DER, trust-list entries met, policy, CRLs used.

    ``anchors_met`` holds (name, certificate DER, status, revocation policy, status reason)
    of each trust-list entry on the chain, nearest first; the nearest one's policy decides
    the revocation mode. ``retroactive`` is true for a validation at a stated moment.
    """
    parts: list[bytes] = [b"retroactive" if retroactive else b"current"]
    for name, der, status, policy, reason in anchors_met:
        parts += [b"anchor", name.encode(), der, status.encode(), policy.encode(), (reason or "").encode()]
    parts += [b"chain", *(cert.dump() for cert in certs)]
    parts += [b"crls", *(crl.digest for crl in crls)]
    return signature_fact(*parts)


def recheck(certs: Sequence[x509.Certificate], crls: Sequence[IndexedCrl], moment: datetime,
            retroactive: bool) -> bool:
    """Whether everything that can change still clearly holds at ``moment`` for this chain
    (leaf first, root last) with these CRLs. False means "run the full path"."""
    return (all(_within_validity(cert, moment) for cert in certs)
            and _ca_constraints_hold(certs)
            and all(_usable(crl, moment, retroactive) for crl in crls)
            and not any(crl.lists(cert.serial_number) for cert in certs[:-1] for crl in crls))


def _within_validity(cert: x509.Certificate, moment: datetime) -> bool:
    # Inside the window itself: the full path's one-second tolerance is never needed here.
    return cert.not_valid_before <= moment <= cert.not_valid_after


def _ca_constraints_hold(certs: Sequence[x509.Certificate]) -> bool:
    """Each intermediate CA certificate is a CA (basicConstraints), may sign certificates
    (keyUsage, when present), and its path length allows the certificates under it."""
    for below, cert in enumerate(certs[1:-1]):
        if not cert.ca:
            return False
        usage = cert.key_usage_value
        if usage is not None and "key_cert_sign" not in usage.native:
            return False
        if cert.max_path_length is not None and cert.max_path_length < below:
            return False
    return True


def _usable(crl: IndexedCrl, moment: datetime, retroactive: bool) -> bool:
    """The CRL was issued by ``moment`` (or a later one may speak for it, at a stated
    moment) and its nextUpdate has not passed at ``moment``."""
    if crl.revoked is None or crl.next_update is None or moment > crl.next_update:
        return False
    return retroactive or crl.this_update <= moment
