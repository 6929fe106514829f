"""Password hashing with argon2id (OWASP's first choice), through argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()

# Verified against when the username is unknown, so a wrong name costs as long as a wrong
# password and response times do not reveal which accounts exist.
_DUMMY_HASH = _HASHER.hash("bidhall-timing-equaliser")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
