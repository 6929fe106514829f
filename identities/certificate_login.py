"""Signing in with a certificate: the server issues a nonce, the holder signs it.

The signed bytes are ``LOGIN_CONTEXT + nonce``: the fixed prefix keeps a login signature
from ever being usable as a signature on anything else (a bid, a report). A certificate
is first bound to a signed-in user (proving the key, and that the certificate names the
user's own party); from then on it signs that user in. Every failure says which check
failed; a challenge is good once, for a few minutes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.certificates import as_asn1, summarize
from ca_interop.revocation import RevocationSource
from ca_interop.signatures import SignatureFormatError, verify_detached
from ca_interop.validation import Usage
from core.actors import Actor
from core.clock import utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotAuthenticated
from core.usecases import ANY_ROLE, use_case
from identities import events
from identities.models import LoginChallenge, Party, Token, User, UserCertificate
from identities.service import actor_for, issue_token, record_user_event
from identities.trust_service import certificate_validator

LOGIN_CONTEXT = b"bidhall certificate login\n"
CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_SIGNATURE_BYTES = 256 * 1024


def signed_bytes(nonce: str) -> bytes:
    """What the holder signs for ``nonce`` (the base64 text the server handed out)."""
    return LOGIN_CONTEXT + nonce.encode("ascii")


async def issue_challenge(session: AsyncSession) -> LoginChallenge:
    now = utcnow()
    challenge = LoginChallenge(
        nonce=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("="),
        created_at=now,
        expires_at=now + CHALLENGE_LIFETIME,
    )
    session.add(challenge)
    await session.flush()
    return challenge


async def sign_in_with_certificate(
    session: AsyncSession, nonce: str, signature_b64: str, revocation: RevocationSource, *,
    source_address: str | None, hours: int,
) -> tuple[Token, str]:
    fingerprint, identity = await _proven_certificate(session, nonce, signature_b64, revocation)
    bound = await session.scalar(sa.select(UserCertificate).where(UserCertificate.fingerprint == fingerprint))
    if bound is None:
        raise NotAuthenticated("this certificate is not bound to any account: sign in with your password "
                               "once and bind it (POST /auth/certificates)")
    user = await session.get(User, bound.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("this account is deactivated")
    actor = _with_fingerprint(actor_for(user, source_address=source_address), fingerprint)
    return await issue_token(session, actor, user, kind="session", name="certificate login",
                              lifetime=timedelta(hours=hours))


@use_case("identities.bind_certificate", ANY_ROLE)
async def bind_certificate(
    session: AsyncSession, actor: Actor, nonce: str, signature_b64: str, revocation: RevocationSource
) -> UserCertificate:
    """Bind the certificate that signed ``nonce`` to the signed-in user.

    A party's certificate must carry that party's credit code; a certificate already bound
    to someone else is refused.
    """
    fingerprint, identity = await _proven_certificate(session, nonce, signature_b64, revocation)
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotAuthenticated("sign in first")
    await _check_identity_matches(session, user, identity)
    existing = await session.scalar(sa.select(UserCertificate).where(UserCertificate.fingerprint == fingerprint))
    if existing is not None:
        raise Conflict("this certificate is already bound" + (" to you" if existing.user_id == user.id else
                                                             " to another account"))
    record = UserCertificate(
        user_id=user.id, fingerprint=fingerprint, subject=identity["subject"], ca_name=identity["ca"],  # type: ignore[arg-type]
        uscc=identity.get("uscc"), person_id=identity.get("person_id"), not_after=identity["not_after"],
        bound_at=utcnow(),
    )
    session.add(record)
    await session.flush()
    await record_user_event(session, _with_fingerprint(actor, fingerprint), user, events.CERTIFICATE_BOUND,
                       events.certificate_snapshot(record))
    return record


async def _proven_certificate(
    session: AsyncSession, nonce: str, signature_b64: str, revocation: RevocationSource
) -> tuple[str, dict]:
    """Consume the challenge, check the signature over it and validate its certificate."""
    challenge = await session.scalar(
        sa.select(LoginChallenge).where(LoginChallenge.nonce == nonce).with_for_update())
    if challenge is None:
        raise NotAuthenticated("unknown challenge: ask for a new one")
    if challenge.used_at is not None:
        raise NotAuthenticated("this challenge was already used: ask for a new one")
    if challenge.expires_at <= utcnow():
        raise NotAuthenticated("this challenge expired: ask for a new one")
    challenge.used_at = utcnow()
    signature = _decode_signature(signature_b64)
    try:
        check = verify_detached(signed_bytes(nonce), signature)
    except SignatureFormatError as error:
        raise InvalidInput(str(error), [FieldError("$.signature", str(error))]) from None
    if not check.valid:
        raise NotAuthenticated(f"the signature over the challenge does not verify: {check.reason}")
    certificate = as_asn1(check.signer_cert)
    chain = [as_asn1(c) for c in check.other_certs]
    validator = await certificate_validator(session, revocation)
    report = await validator.validate(certificate, usage=Usage.SIGNING, extra_certs=chain)
    if not report.passed:
        raise NotAuthenticated(f"the certificate is not accepted ({report.subindication}): {report.detail}")
    summary = summarize(certificate)
    identity = dict(report.identity or {})
    identity.update(subject=summary.subject, ca=report.ca, not_after=summary.not_after)
    return summary.fingerprint, identity


def _decode_signature(signature_b64: str) -> bytes:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the signature must be base64 of a DER CMS signature",
                           [FieldError("$.signature", "not base64")]) from None
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise InvalidInput(f"the signature is over {MAX_SIGNATURE_BYTES} bytes",
                           [FieldError("$.signature", "too large")])
    return signature


async def _check_identity_matches(session: AsyncSession, user: User, identity: dict) -> None:
    if identity.get("uscc"):
        party = await session.get(Party, user.party_id) if user.party_id else None
        if party is None or party.uscc != identity["uscc"]:
            raise Conflict(f"the certificate names the organisation with credit code {identity['uscc']}, "
                           "which is not the party of this account")


def _with_fingerprint(actor: Actor, fingerprint: str) -> Actor:
    return replace(actor, cert_fingerprint=fingerprint)
