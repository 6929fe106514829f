"""Certificate sign-in over HTTP: challenge, sign-in, and binding a certificate to an account."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from identities import certificate_login
from identities.models import UserCertificate
from identities.schemas import (
    BoundCertificateOut,
    CertificateProof,
    ChallengeOut,
    TokenIssued,
)
from web.api import Api, json_response, parse_body
from web.auth import client_address, current_actor

api = Api()


@api.operation("POST", "/auth/certificate/challenge", "A one-time nonce to sign with your certificate",
               response=ChallengeOut, status=201, authenticated=False, tag="auth")
async def challenge(request: Request) -> Response:
    async with request.app.state.runtime.database.transaction() as session:
        issued = await certificate_login.issue_challenge(session)
    body = ChallengeOut(nonce=issued.nonce, to_sign=certificate_login.signed_bytes(issued.nonce).decode("ascii"),
                        expires_at=issued.expires_at)
    return json_response(body, 201)


@api.operation("POST", "/auth/certificate/login", "Sign in with a certificate bound to your account",
               request=CertificateProof, response=TokenIssued, status=201, authenticated=False, tag="auth",
               errors=(401,))
async def certificate_sign_in(request: Request) -> Response:
    data = await parse_body(request, CertificateProof)
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        token, raw = await certificate_login.sign_in_with_certificate(
            session, data.nonce, data.signature, runtime.revocation,
            source_address=client_address(request), hours=runtime.settings.session_token_hours)
    return json_response(TokenIssued(id=token.id, token=raw, kind=token.kind, name=token.name,  # type: ignore[arg-type]
                                     expires_at=token.expires_at), 201)


@api.operation("POST", "/auth/certificates", "Bind the certificate that signed a challenge to your account",
               request=CertificateProof, response=BoundCertificateOut, status=201, tag="auth", errors=(409,))
async def bind(request: Request) -> Response:
    data = await parse_body(request, CertificateProof)
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        record = await certificate_login.bind_certificate(session, actor, data.nonce, data.signature,
                                                          runtime.revocation)
    return json_response(BoundCertificateOut.model_validate(record), 201)


@api.operation("GET", "/auth/certificates", "Certificates bound to your account", response=BoundCertificateOut,
               response_is_list=True, tag="auth")
async def list_bound(request: Request) -> Response:
    async with request.app.state.runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        rows = await session.scalars(sa.select(UserCertificate).where(UserCertificate.user_id == actor.user_id))
        return json_response([BoundCertificateOut.model_validate(row) for row in rows])
