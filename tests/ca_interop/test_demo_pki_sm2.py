"""The SM2 demo CA: certificates and CRLs checked by OpenSSL 3.0, and OpenSSL's by us.

OpenSSL 3.0 quirks these tests pin down:
- `openssl verify` checks a leaf's SM2 signature with the EMPTY ID unless given
  `-vfyopt distid:1234567812345678`;
- that option reaches only the certificate being verified: CRLs (`openssl crl -CAfile`,
  `-crl_check`) and self-signatures (`-check_ss_sig`) are always checked with the empty
  ID, so OpenSSL 3.0 rejects standard SM2 CRLs and roots there. We check those
  signatures with `openssl dgst -sm3 -sigopt distid:...` over the TBS bytes instead.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos, keys, pem, x509
from asn1crypto import crl as asn1_crl
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as path_errors
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from ca_interop import gm
from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.demo_pki_sm2 import (
    Sm2DemoCA,
    Sm2Issued,
    crl_pem,
    key_identifier,
    verify_sm2_certificate_signature,
    verify_sm2_crl_signature,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")
DISTID = "distid:1234567812345678"
USCC = "91110000100000000X"
PERSON_ID = "11010519491231002X"


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=30)


def openssl_version() -> str:
    return subprocess.run([str(OPENSSL), "version"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def ca() -> Sm2DemoCA:
    return Sm2DemoCA.create("Demo SM2")


@pytest.fixture(scope="module")
def party_cert(ca: Sm2DemoCA) -> Sm2Issued:
    return ca.issue("Acme Construction", uscc=USCC, organization="Acme 建设有限公司")


@pytest.fixture
def work(tmp_path: Path, ca: Sm2DemoCA) -> Path:
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "ca-pub.pem").write_bytes(ca.key.public_key.to_spki_pem())
    return tmp_path


# ------------------------------------------------------------------ our own checks


def test_issued_certificate_structure(ca: Sm2DemoCA, party_cert: Sm2Issued) -> None:
    cert = party_cert.cert
    assert isinstance(cert, x509.Certificate)
    assert cert["tbs_certificate"]["signature"]["algorithm"].dotted == gm.OID_SM2_WITH_SM3
    assert cert["signature_algorithm"]["algorithm"].dotted == gm.OID_SM2_WITH_SM3
    assert gm.sm2_public_key_from_spki(cert.public_key) == party_cert.key.public_key
    assert cert.subject.native["organization_identifier"] == USCC
    assert cert.issuer == ca.cert.subject
    assert cert.key_identifier == key_identifier(party_cert.key.public_key)
    assert cert.authority_key_identifier == ca.cert.key_identifier
    assert cert.crl_distribution_points[0]["distribution_point"].native == [ca.crl_url]
    assert cert.ocsp_urls == [ca.ocsp_url]
    assert cert.basic_constraints_value.native["ca"] is False
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert 0 < cert.serial_number < 2**159
    assert gm.load_sm2_private_key(party_cert.key_pem) == party_cert.key
    assert x509.Certificate.load(pem.unarmor(party_cert.cert_pem)[2]).dump() == party_cert.cert_der


def test_key_usage_split_and_person_certificates(ca: Sm2DemoCA) -> None:
    encryption = ca.issue("Acme enc", usage=Usage.ENCRYPTION, uscc=USCC)
    assert encryption.cert.key_usage_value.native == {"key_encipherment", "key_agreement"}
    tsa = ca.issue("Demo TSA", usage=Usage.TIMESTAMPING)
    assert tsa.cert.key_usage_value.native == {"digital_signature"}
    assert tsa.cert.extended_key_usage_value.native == ["time_stamping"]
    person = ca.issue("Zhang San", person_id=PERSON_ID, days=30,
                      not_before=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert person.cert.subject.native["serial_number"] == PERSON_ID
    validity = person.cert["tbs_certificate"]["validity"]
    assert validity["not_before"].native == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert validity["not_after"].native == dt.datetime(2030, 1, 31, tzinfo=dt.UTC)
    ca_cert = ca.cert
    assert ca_cert.ca is True and ca_cert.key_usage_value.native == {"key_cert_sign", "crl_sign"}


def test_signatures_verify_with_our_verifier(ca: Sm2DemoCA, party_cert: Sm2Issued) -> None:
    assert verify_sm2_certificate_signature(party_cert.cert, ca.cert)
    assert verify_sm2_certificate_signature(party_cert.cert_der, ca.key.public_key)
    assert verify_sm2_certificate_signature(party_cert.cert, ca.cert.public_key)
    assert verify_sm2_certificate_signature(ca.cert, ca.cert)  # self-signed root
    assert not verify_sm2_certificate_signature(party_cert.cert, ca.cert, user_id=b"")
    assert not verify_sm2_certificate_signature(party_cert.cert, Sm2DemoCA.create("Other").cert)


def test_tampered_or_garbage_certificates_do_not_verify(ca: Sm2DemoCA, party_cert: Sm2Issued) -> None:
    der = party_cert.cert_der
    subject_at = der.index(USCC.encode())
    tampered = der[:subject_at] + b"8" + der[subject_at + 1:]
    for bad in (tampered, b"", b"junk", der[:-1], der + b"\x00"):
        assert verify_sm2_certificate_signature(bad, ca.cert) is False
    rsa_ca = DemoCA.create("RSA CA", "rsa")
    rsa_signed = rsa_ca.issue("x").cert.public_bytes(serialization.Encoding.DER)
    assert verify_sm2_certificate_signature(rsa_signed, ca.cert) is False
    with pytest.raises(gm.GmError, match="not an EC key"):
        verify_sm2_certificate_signature(der, x509.Certificate.load(rsa_signed))


def test_crl_lists_revoked_certificates_and_verifies(ca: Sm2DemoCA) -> None:
    revoked = ca.issue("Revoked Co", uscc=USCC)
    ca.revoke(revoked)
    certificate_list = ca.crl()
    assert isinstance(certificate_list, asn1_crl.CertificateList)
    serials = [entry["user_certificate"].native for entry in certificate_list["tbs_cert_list"]["revoked_certificates"]]
    assert revoked.cert.serial_number in serials
    assert certificate_list["signature_algorithm"]["algorithm"].dotted == gm.OID_SM2_WITH_SM3
    assert verify_sm2_crl_signature(certificate_list, ca.cert)
    assert verify_sm2_crl_signature(certificate_list.dump(), ca.key.public_key)
    assert not verify_sm2_crl_signature(certificate_list, ca.cert, user_id=b"")
    assert not verify_sm2_crl_signature(b"junk", ca.cert)


def test_empty_crl_leaves_out_the_revoked_list() -> None:
    fresh = Sm2DemoCA.create("Fresh")
    certificate_list = fresh.crl()
    assert certificate_list["tbs_cert_list"]["revoked_certificates"].native is None
    assert verify_sm2_crl_signature(certificate_list, fresh.cert)


# ------------------------------------------------------------------- OpenSSL checks


@needs_openssl
def test_openssl_verifies_our_leaf_given_the_distid(work: Path, party_cert: Sm2Issued) -> None:
    (work / "leaf.pem").write_bytes(party_cert.cert_pem)
    accepted = openssl("verify", "-vfyopt", DISTID, "-CAfile", "ca.pem", "leaf.pem", cwd=work)
    assert accepted.returncode == 0, accepted.stderr
    assert "leaf.pem: OK" in accepted.stdout
    # Quirk: without -vfyopt OpenSSL 3.0 uses the empty ID and reports a signature failure.
    refused = openssl("verify", "-CAfile", "ca.pem", "leaf.pem", cwd=work)
    assert refused.returncode != 0
    assert "certificate signature failure" in refused.stdout + refused.stderr


@needs_openssl
def test_openssl_shows_the_extensions(work: Path, ca: Sm2DemoCA, party_cert: Sm2Issued) -> None:
    person = ca.issue("Zhang San", person_id=PERSON_ID)
    (work / "leaf.pem").write_bytes(party_cert.cert_pem)
    (work / "person.pem").write_bytes(person.cert_pem)
    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=work).stdout
    for expected in (
        "Signature Algorithm: SM2-with-SM3", "ASN1 OID: SM2",
        f"organizationIdentifier = {USCC}",
        "X509v3 Basic Constraints: critical", "CA:FALSE",
        "X509v3 Key Usage: critical", "Digital Signature, Non Repudiation",
        "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
        f"URI:{ca.crl_url}", f"OCSP - URI:{ca.ocsp_url}",
    ):
        assert expected in text
    person_text = openssl("x509", "-in", "person.pem", "-noout", "-text", cwd=work).stdout
    assert f"serialNumber = {PERSON_ID}" in person_text
    ca_text = openssl("x509", "-in", "ca.pem", "-noout", "-text", cwd=work).stdout
    assert "CA:TRUE" in ca_text and "Certificate Sign, CRL Sign" in ca_text


def _check_tbs_signature_with_openssl(work: Path, tbs: bytes, signature: bytes) -> subprocess.CompletedProcess[str]:
    (work / "tbs.der").write_bytes(tbs)
    (work / "tbs.sig").write_bytes(signature)
    return openssl("dgst", "-sm3", "-verify", "ca-pub.pem", "-sigopt", DISTID, "-signature", "tbs.sig", "tbs.der",
                   cwd=work)


@needs_openssl
def test_openssl_checks_our_crl_signature(work: Path, ca: Sm2DemoCA) -> None:
    certificate_list = ca.crl()
    (work / "crl.pem").write_bytes(crl_pem(certificate_list))
    parsed = openssl("crl", "-in", "crl.pem", "-noout", "-text", cwd=work)
    assert parsed.returncode == 0 and "Signature Algorithm: SM2-with-SM3" in parsed.stdout
    checked = _check_tbs_signature_with_openssl(
        work, certificate_list["tbs_cert_list"].dump(), certificate_list["signature"].native)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout
    if not openssl_version().startswith("OpenSSL 3.0"):
        pytest.skip("the empty-ID CRL quirk is pinned for OpenSSL 3.0 only")
    quirk = openssl("crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout", cwd=work)
    assert "verify failure" in quirk.stdout + quirk.stderr  # empty ID: standard CRLs fail here


@needs_openssl
def test_openssl_checks_our_self_signed_root(work: Path, ca: Sm2DemoCA) -> None:
    checked = _check_tbs_signature_with_openssl(
        work, ca.cert["tbs_certificate"].dump(), ca.cert["signature_value"].native)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout


@needs_openssl
def test_openssl_crl_check_uses_the_empty_id(work: Path) -> None:
    """A CRL that OpenSSL 3.0's `ca -gencrl` signs without -sigopt is signed with the
    empty ID: `openssl crl -CAfile` accepts it, and so do we when told the empty ID."""
    assert openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=work).returncode == 0
    made = openssl("req", "-x509", "-new", "-key", "k.pem", "-sm3", "-sigopt", DISTID, "-subj", "/C=CN/CN=OpenSSL SM2",
                   "-days", "30", "-out", "osca.pem", cwd=work)
    assert made.returncode == 0, made.stderr
    (work / "db").mkdir()
    (work / "db" / "index.txt").write_text("")
    (work / "db" / "crlnumber").write_text("01\n")
    (work / "ca.cnf").write_text(
        f"[ca]\ndefault_ca = d\n[d]\ndatabase = {work}/db/index.txt\ncrlnumber = {work}/db/crlnumber\n"
        "default_md = sm3\ndefault_crl_days = 7\n")
    generated = openssl("ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "k.pem", "-cert", "osca.pem",
                        "-out", "os.crl", cwd=work)
    assert generated.returncode == 0, generated.stderr
    assert "verify OK" in openssl("crl", "-in", "os.crl", "-CAfile", "osca.pem", "-noout", cwd=work).stderr
    issuer = x509.Certificate.load(pem.unarmor((work / "osca.pem").read_bytes())[2])
    crl_der = pem.unarmor((work / "os.crl").read_bytes())[2]
    assert verify_sm2_crl_signature(crl_der, issuer, user_id=b"")
    assert not verify_sm2_crl_signature(crl_der, issuer)


@needs_openssl
def test_openssl_made_certificates_verify_with_gm(work: Path) -> None:
    """An OpenSSL SM2 root (-sigopt distid) and a leaf it signs check out in our verifier."""
    assert openssl("genpkey", "-algorithm", "SM2", "-out", "root.key", cwd=work).returncode == 0
    assert openssl("genpkey", "-algorithm", "SM2", "-out", "leaf.key", cwd=work).returncode == 0
    root = openssl("req", "-x509", "-new", "-key", "root.key", "-sm3", "-sigopt", DISTID,
                   "-subj", "/C=CN/O=OpenSSL/CN=OpenSSL SM2 Root", "-days", "30",
                   "-addext", "basicConstraints=critical,CA:TRUE", "-out", "root.pem", cwd=work)
    assert root.returncode == 0, root.stderr
    csr = openssl("req", "-new", "-key", "leaf.key", "-sm3", "-sigopt", DISTID, "-subj", "/C=CN/CN=leaf",
                  "-out", "leaf.csr", cwd=work)
    assert csr.returncode == 0, csr.stderr
    leaf = openssl("x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "7",
                   "-sm3", "-sigopt", DISTID, "-vfyopt", DISTID, "-days", "10", "-out", "leaf.pem", cwd=work)
    assert leaf.returncode == 0, leaf.stderr
    root_cert = x509.Certificate.load(pem.unarmor((work / "root.pem").read_bytes())[2])
    leaf_der = pem.unarmor((work / "leaf.pem").read_bytes())[2]
    assert verify_sm2_certificate_signature(root_cert, root_cert)
    assert verify_sm2_certificate_signature(leaf_der, root_cert)
    assert not verify_sm2_certificate_signature(leaf_der, root_cert, user_id=b"")
    assert gm.load_sm2_private_key((work / "root.key").read_bytes()).public_key == \
        gm.sm2_public_key_from_spki(root_cert.public_key)


@needs_openssl
def test_openssl_signs_with_our_ca_key_and_both_sides_agree(work: Path, ca: Sm2DemoCA) -> None:
    (work / "ca.key").write_bytes(ca.key.to_pkcs8_pem())
    leaf_key = gm.generate_sm2_key()
    (work / "leaf.key").write_bytes(leaf_key.to_sec1_pem())
    csr = openssl("req", "-new", "-key", "leaf.key", "-sm3", "-sigopt", DISTID, "-subj", "/C=CN/CN=by openssl",
                  "-out", "leaf.csr", cwd=work)
    assert csr.returncode == 0, csr.stderr
    signed = openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "9",
                     "-sm3", "-sigopt", DISTID, "-vfyopt", DISTID, "-days", "10", "-out", "leaf.pem", cwd=work)
    assert signed.returncode == 0, signed.stderr
    leaf_der = pem.unarmor((work / "leaf.pem").read_bytes())[2]
    assert verify_sm2_certificate_signature(leaf_der, ca.cert)
    assert "leaf.pem: OK" in openssl("verify", "-vfyopt", DISTID, "-CAfile", "ca.pem", "leaf.pem", cwd=work).stdout


# ------------------------------------------------------- pyhanko-certvalidator plug


class _Sm2SignatureValidator(DefaultSignatureValidator):
    """What the path validator's pluggable verifier does with gm.verify_sm2_with_sm3."""

    def validate_signature(self, signature: bytes, signed_data: bytes, public_key_info: keys.PublicKeyInfo,
                           signature_algorithm: algos.SignedDigestAlgorithm,
                           context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT) -> None:
        if signature_algorithm["algorithm"].dotted != gm.OID_SM2_WITH_SM3:
            super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
        elif not gm.verify_sm2_with_sm3(public_key_info, signature, signed_data):
            raise InvalidSignature("SM2 signature does not verify")


async def test_path_validation_with_sm2_crl(ca: Sm2DemoCA, party_cert: Sm2Issued) -> None:
    gone = ca.issue("Gone Co", uscc=USCC)
    ca.revoke(gone)

    def validator(cert: x509.Certificate) -> CertificateValidator:
        context = ValidationContext(trust_roots=[ca.cert], crls=[ca.crl()], revocation_mode="require",
                                    allow_fetching=False, signature_validator=_Sm2SignatureValidator())
        return CertificateValidator(cert, validation_context=context)

    path = await validator(party_cert.cert).async_validate_path()
    assert path.leaf is not None and path.leaf.dump() == party_cert.cert_der
    with pytest.raises(path_errors.RevokedError):
        await validator(gone.cert).async_validate_path()
    forged = ca.issue("Forged Co", uscc=USCC)
    forged_der = bytearray(forged.cert_der)
    forged_der[-5] ^= 1  # break the signature, keep the structure
    with pytest.raises(path_errors.PathValidationError):
        await validator(x509.Certificate.load(bytes(forged_der))).async_validate_path()
