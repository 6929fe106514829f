"""Loading the platform's timestamp authority from its key and certificate files."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ca_interop.timestamps import TimestampAuthority


class TimestampAuthorityMissing(Exception):
    """No TSA key or certificate is configured; the message says how to get one."""


def load_timestamp_authority(key_file: Path, chain_file: Path) -> TimestampAuthority:
    """The TSA whose key is ``key_file`` and whose certificate (then chain) is ``chain_file``."""
    for path in (key_file, chain_file):
        if not path.is_file():
            raise TimestampAuthorityMissing(
                f"no timestamp authority: {path} is missing. Run `bidhall pki demo` for a demo TSA, "
                "or set BIDHALL_TSA_KEY_FILE and BIDHALL_TSA_CERT_FILE"
            )
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    certificates = x509.load_pem_x509_certificates(chain_file.read_bytes())
    return TimestampAuthority(key, certificates[0], certificates[1:])  # type: ignore[arg-type]
