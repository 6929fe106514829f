from __future__ import annotations

from argon2 import PasswordHasher

from identities import passwords


def test_production_hasher_uses_argon2id_with_owasp_strength() -> None:
    hasher = PasswordHasher()
    digest = hasher.hash("a long enough password")
    assert digest.startswith("$argon2id$")
    assert "m=65536" in digest  # 64 MiB, argon2-cffi's RFC 9106 low-memory profile


def test_verify_accepts_the_right_password_only() -> None:
    digest = passwords.hash_password("correct horse battery")
    assert passwords.verify_password(digest, "correct horse battery")
    assert not passwords.verify_password(digest, "wrong horse battery")
    assert not passwords.verify_password(None, "correct horse battery")
    assert not passwords.verify_password("not-a-hash", "correct horse battery")
