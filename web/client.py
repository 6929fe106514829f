"""A small Python client for bidhall: the signing side of certificate sign-in.

    client = BidhallClient("https://bidhall.example")
    client.bind_certificate(key_pem, cert_pem, token=password_session_token)  # once
    token = client.certificate_login(key_pem, cert_pem)

The private key stays in this process: only the signature travels.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from ca_interop.certificates import load_certificates
from ca_interop.signatures import load_signing_key, sign_detached


def sign_challenge(to_sign: str, key_pem: bytes, cert_pem: bytes, password: bytes | None = None) -> str:
    """Base64 of a detached CMS signature over the challenge text, with the chain included."""
    key = _load_key(key_pem, password)
    certificates = load_certificates(cert_pem)
    signature = sign_detached(to_sign.encode("utf-8"), key, certificates[0].dump(),
                              chain=[c.dump() for c in certificates[1:]])
    return base64.b64encode(signature).decode("ascii")


def _load_key(key_pem: bytes, password: bytes | None) -> Any:
    return load_signing_key(key_pem, password=password)  # RSA, ECDSA or SM2


class BidhallClient:
    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=30)

    def _proof(self, key_pem: bytes, cert_pem: bytes) -> dict[str, str]:
        challenge = self.http.post("/auth/certificate/challenge")
        challenge.raise_for_status()
        body = challenge.json()
        return {"nonce": body["nonce"], "signature": sign_challenge(body["to_sign"], key_pem, cert_pem)}

    def certificate_login(self, key_pem: bytes, cert_pem: bytes) -> str:
        """Sign in with a bound certificate; returns the session token."""
        response = self.http.post("/auth/certificate/login", json=self._proof(key_pem, cert_pem))
        response.raise_for_status()
        return str(response.json()["token"])

    def bind_certificate(self, key_pem: bytes, cert_pem: bytes, *, token: str) -> dict[str, Any]:
        response = self.http.post("/auth/certificates", json=self._proof(key_pem, cert_pem),
                                  headers={"authorization": f"Bearer {token}"})
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self.http.close()
