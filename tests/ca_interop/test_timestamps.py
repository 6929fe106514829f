"""RFC 3161 time stamps, checked against the OpenSSL 3 command line as the independent party:
OpenSSL makes the requests our TSA answers and verifies our responses and tokens; an OpenSSL
TSA (``openssl ts -reply``) and an OpenSSL CMS signer (``openssl cms -sign -cades``) make the
tokens our verifier checks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
import random
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca_interop import timestamps
from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.timestamps import (
    TimestampAuthority,
    TimestampFormatError,
    make_request,
    new_nonce,
    parse_request,
    parse_response,
    verify_token,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

DATA = b"bid document: tender 2024-0815, lot 3, price 1,234,567.89 CNY\n"


@dataclass
class Pki:
    """A root CA and its TSA, written out as PEM files for OpenSSL."""

    algorithm: str
    ca: DemoCA
    tsa: Issued
    ca_pem: Path
    tsa_pem: Path
    tsa_key: Path
    authority: TimestampAuthority


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("timestamps")


def _pki(algorithm: str, directory: Path) -> Pki:
    ca = DemoCA.create(f"Timestamp Test {algorithm}", algorithm)
    tsa = ca.issue("Platform TSA", usage=Usage.TIMESTAMPING)
    ca_pem = directory / f"ca-{algorithm}.pem"
    tsa_pem = directory / f"tsa-{algorithm}.pem"
    tsa_key = directory / f"tsa-{algorithm}.key"
    ca_pem.write_bytes(ca.cert_pem)
    tsa_pem.write_bytes(tsa.cert_pem)
    tsa_key.write_bytes(tsa.key_pem)
    authority = TimestampAuthority(tsa.key, tsa.cert, [ca.cert])
    return Pki(algorithm, ca, tsa, ca_pem, tsa_pem, tsa_key, authority)


@pytest.fixture(scope="module")
def pkis(workdir: Path) -> dict[str, Pki]:
    return {algorithm: _pki(algorithm, workdir) for algorithm in ("rsa", "ecdsa")}


@pytest.fixture(params=["rsa", "ecdsa"])
def pki(request: pytest.FixtureRequest, pkis: dict[str, Pki]) -> Pki:
    return pkis[request.param]


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "bid.txt"
    path.write_bytes(DATA)
    return path


def openssl(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=30
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def assert_openssl_verifies(*args: object) -> None:
    result = openssl("ts", "-verify", *args, check=False)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr


def tsa_config(path: Path, pki: Pki, *, ess_cert_id_alg: str = "sha256") -> Path:
    """The smallest configuration ``openssl ts -reply`` 3.0 accepts: serial, signer_cert,
    signer_key, signer_digest, default_policy and digests are all required; the rest is optional."""
    path.write_text(
        "[tsa]\n"
        "default_tsa = tsa_config\n"
        "\n"
        "[tsa_config]\n"
        f"serial = {path.parent / 'tsa-serial'}\n"
        f"signer_cert = {pki.tsa_pem}\n"
        f"signer_key = {pki.tsa_key}\n"
        "signer_digest = sha256\n"
        "default_policy = 1.2.3.4.1\n"
        "digests = sha256, sha384, sha512\n"
        f"ess_cert_id_alg = {ess_cert_id_alg}\n"
        "accuracy = secs:1, millisecs:500\n"
        "tsa_name = yes\n"
    )
    return path


def tst_info_der(data: bytes, *, serial: int = 7) -> bytes:
    return tsp.TSTInfo({
        "version": "v1",
        "policy": "1.2.3.4.1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(data).digest()},
        "serial_number": serial,
        "gen_time": dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
    }).dump()


def cms_sign_token(tmp_path: Path, cert_pem: bytes, key_pem: bytes, data: bytes, *keyopts: str) -> bytes:
    """A token made by ``openssl cms -sign``: SignedData over a TSTInfo with contentType,
    messageDigest and (``-cades``) signingCertificateV2, signed with any key and certificate."""
    (tmp_path / "signer.pem").write_bytes(cert_pem)
    (tmp_path / "signer.key").write_bytes(key_pem)
    (tmp_path / "tst.der").write_bytes(tst_info_der(data))
    options = [item for keyopt in keyopts for item in ("-keyopt", keyopt)]
    openssl(
        "cms", "-sign", "-binary", "-nodetach", "-cades", "-nosmimecap", "-md", "sha256",
        "-econtent_type", "1.2.840.113549.1.9.16.1.4", "-in", tmp_path / "tst.der",
        "-signer", tmp_path / "signer.pem", "-inkey", tmp_path / "signer.key",
        *options, "-outform", "DER", "-out", tmp_path / "cms.der",
    )
    return (tmp_path / "cms.der").read_bytes()


def issue_with_eku(ca: DemoCA, usages: list[x509.ObjectIdentifier], *, critical: bool) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Odd TSA")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage(usages), critical=critical)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key=key, cert=cert)


# --------------------------------------------------------------------------------------------
# Our TSA, OpenSSL as the client and verifier


@needs_openssl
def test_openssl_request_our_response_verifies_in_openssl(pki: Pki, data_file: Path, tmp_path: Path) -> None:
    request = tmp_path / "req.tsq"
    openssl("ts", "-query", "-data", data_file, "-sha256", "-cert", "-out", request)
    response = tmp_path / "resp.tsr"
    response.write_bytes(pki.authority.respond(request.read_bytes()))

    assert_openssl_verifies("-in", response, "-queryfile", request, "-CAfile", pki.ca_pem, "-untrusted", pki.tsa_pem)
    assert_openssl_verifies("-in", response, "-data", data_file, "-CAfile", pki.ca_pem)

    sent = parse_request(request.read_bytes())
    check = verify_token(response.read_bytes(), data=data_file, nonce=sent["nonce"])
    assert check.valid, check.reason
    assert check.reason == "ok"
    assert check.policy == timestamps.DEFAULT_POLICY_OID
    assert check.hash_algorithm == "sha256"
    assert check.message_imprint == hashlib.sha256(DATA).digest()
    assert check.nonce == sent["nonce"] is not None
    assert check.tsa_cert == pki.tsa.cert
    assert set(check.certificates) == {pki.tsa.cert, pki.ca.cert}
    assert check.certificates[0] == pki.tsa.cert

    text = openssl("ts", "-reply", "-in", response, "-text").stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {timestamps.DEFAULT_POLICY_OID}" in text
    assert "Ordering: no" in text


@needs_openssl
def test_token_without_certificates_verifies_with_token_in(pki: Pki, data_file: Path, tmp_path: Path) -> None:
    token = tmp_path / "token.der"
    with data_file.open("rb") as stream:
        token.write_bytes(pki.authority.stamp_file(stream, cert_req=False))
    assert token.read_bytes() != pki.authority.stamp_file(data_file, cert_req=False)  # a new serial each time

    assert_openssl_verifies(
        "-in", token, "-token_in", "-data", data_file, "-CAfile", pki.ca_pem, "-untrusted", pki.tsa_pem
    )
    assert_openssl_verifies(
        "-in", token, "-token_in", "-digest", hashlib.sha256(DATA).hexdigest(),
        "-CAfile", pki.ca_pem, "-untrusted", pki.tsa_pem,
    )

    # no certificate in the token: ours needs the TSA certificate handed in
    check = verify_token(token.read_bytes(), data=DATA)
    assert not check.valid and "certificate" in check.reason
    check = verify_token(token.read_bytes(), digest=hashlib.sha256(DATA).digest(), trusted_tsa_certs=[pki.tsa.cert])
    assert check.valid, check.reason
    assert check.certificates == (pki.tsa.cert,)


@needs_openssl
def test_tsa_options_fixed_clock_counter_accuracy_and_tsa_name(pkis: dict[str, Pki], data_file: Path,
                                                                tmp_path: Path) -> None:
    pki = pkis["ecdsa"]
    moment = (pki.tsa.cert.not_valid_before_utc + dt.timedelta(minutes=1)).replace(microsecond=123456)
    counter = itertools.count(1000)
    authority = TimestampAuthority(
        pki.tsa.key, pki.tsa.cert, [pki.ca.cert],
        policy_oid="1.3.6.1.4.1.32473.3161.9", clock=lambda: moment, serial_source=lambda: next(counter),
        accuracy=dt.timedelta(seconds=1, milliseconds=5), include_tsa_name=True,
    )
    request = make_request(hashlib.sha384(DATA).digest(), "sha384", nonce=new_nonce())
    first = authority.respond(request)
    second = authority.respond(request)
    (tmp_path / "resp.tsr").write_bytes(first)
    (tmp_path / "req.tsq").write_bytes(request)
    assert_openssl_verifies("-in", tmp_path / "resp.tsr", "-queryfile", tmp_path / "req.tsq", "-CAfile", pki.ca_pem)

    text = openssl("ts", "-reply", "-in", tmp_path / "resp.tsr", "-text").stdout
    assert f"Time stamp: {moment:%b} {moment.day:2d} {moment:%H:%M:%S}.123456 {moment.year} GMT" in text
    assert "Serial number: 0x03E8" in text
    assert "Hash Algorithm: sha384" in text
    assert "Accuracy: 0x01 seconds, 0x05 millis, unspecified micros" in text
    assert "TSA: DirName:/C=CN/CN=Platform TSA" in text

    check = verify_token(first, data=DATA)
    assert check.valid, check.reason
    assert check.gen_time == moment
    assert (check.serial, verify_token(second, data=DATA).serial) == (1000, 1001)
    assert check.accuracy == dt.timedelta(seconds=1, milliseconds=5)
    assert check.policy == "1.3.6.1.4.1.32473.3161.9"

    # a clock outside the certificate's validity: no token, systemFailure
    authority.clock = lambda: pki.tsa.cert.not_valid_before_utc - dt.timedelta(seconds=1)
    with pytest.raises(ValueError, match="not valid"):
        authority.stamp_data(DATA)
    _openssl_shows_rejection(tmp_path, authority.respond(request),
                             "the request cannot be handled due to system failure")


@needs_openssl
def test_our_pss_token_verifies_in_openssl_cms(pkis: dict[str, Pki], tmp_path: Path) -> None:
    """``openssl ts -verify`` 3.0 goes through PKCS7, which has no RSA-PSS: ``openssl cms``
    verifies the same token (with the timeStampSigning purpose) instead."""
    pki = pkis["rsa"]
    authority = TimestampAuthority(pki.tsa.key, pki.tsa.cert, rsa_padding="pss")
    token = authority.stamp_data(DATA)
    (tmp_path / "token.der").write_bytes(token)
    result = openssl(
        "cms", "-verify", "-inform", "DER", "-in", tmp_path / "token.der", "-binary",
        "-CAfile", pki.ca_pem, "-purpose", "timestampsign", "-out", tmp_path / "tst.der",
    )
    assert "Verification successful" in result.stderr
    check = verify_token(token, data=DATA)
    assert check.valid, check.reason


# --------------------------------------------------------------------------------------------
# OpenSSL's TSA and CMS signer, our verifier


@needs_openssl
@pytest.mark.parametrize("ess_cert_id_alg", ["sha256", "sha1"])  # ESSCertIDv2 and the old ESSCertID
def test_openssl_tsa_tokens_verify_in_ours(pki: Pki, ess_cert_id_alg: str, data_file: Path, tmp_path: Path) -> None:
    config = tsa_config(tmp_path / "tsa.cnf", pki, ess_cert_id_alg=ess_cert_id_alg)
    request = tmp_path / "req.tsq"
    openssl("ts", "-query", "-data", data_file, "-sha256", "-cert", "-out", request)
    response = tmp_path / "resp.tsr"
    openssl("ts", "-reply", "-config", config, "-queryfile", request, "-out", response)
    token = tmp_path / "token.der"
    openssl("ts", "-reply", "-in", response, "-token_out", "-out", token)

    nonce = parse_request(request.read_bytes())["nonce"]
    for der in (response.read_bytes(), token.read_bytes()):
        check = verify_token(der, data=data_file, nonce=nonce)
        assert check.valid, check.reason
        assert check.policy == "1.2.3.4.1"
        assert check.serial == 1
        assert check.accuracy == dt.timedelta(seconds=1, milliseconds=500)
        assert check.tsa_cert == pki.tsa.cert
        assert verify_token(der, digest=hashlib.sha256(DATA).digest(), algorithm="SHA-256").valid

    reply = parse_response(response.read_bytes())
    assert reply.granted and reply.token == token.read_bytes()
    tampered = verify_token(token.read_bytes(), data=DATA + b" ")
    assert not tampered.valid and "message imprint mismatch" in tampered.reason
    wrong_nonce = verify_token(token.read_bytes(), data=DATA, nonce=nonce + 1)
    assert not wrong_nonce.valid and "nonce" in wrong_nonce.reason


@needs_openssl
@pytest.mark.parametrize("keyopts", [(), ("rsa_padding_mode:pss", "rsa_pss_saltlen:32")], ids=["pkcs1v15", "pss"])
def test_openssl_cms_rsa_tokens_including_pss_verify_in_ours(pkis: dict[str, Pki], keyopts: tuple[str, ...],
                                                              tmp_path: Path) -> None:
    pki = pkis["rsa"]
    token = cms_sign_token(tmp_path, pki.tsa.cert_pem, pki.tsa.key_pem, DATA, *keyopts)
    if keyopts:
        signer = cms.ContentInfo.load(token)["content"]["signer_infos"][0]
        assert signer["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    check = verify_token(token, data=DATA)
    assert check.valid, check.reason


@needs_openssl
def test_token_from_certificate_without_timestamping_eku_is_invalid(pki: Pki, tmp_path: Path) -> None:
    signer = pki.ca.issue("Bidder Signing Key", usage=Usage.SIGNING)
    token = cms_sign_token(tmp_path, signer.cert_pem, signer.key_pem, DATA)
    check = verify_token(token, data=DATA)
    assert not check.valid
    assert "extended key usage" in check.reason and "timeStamping" in check.reason
    assert check.tsa_cert == signer.cert
    # OpenSSL refuses it too
    (tmp_path / "token.der").write_bytes(token)
    result = openssl("ts", "-verify", "-in", tmp_path / "token.der", "-token_in", "-digest",
                     hashlib.sha256(DATA).hexdigest(), "-CAfile", pki.ca_pem, check=False)
    assert "Verification: OK" not in result.stdout
    # and our TSA will not sign with such a certificate
    with pytest.raises(ValueError, match="extended key usage"):
        TimestampAuthority(signer.key, signer.cert)


@needs_openssl
@pytest.mark.parametrize(
    ("usages", "critical", "reason"),
    [
        ([ExtendedKeyUsageOID.TIME_STAMPING], False, "not marked critical"),
        ([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING], True, "other purposes"),
    ],
)
def test_timestamping_eku_must_be_critical_and_alone(pkis: dict[str, Pki], usages: list, critical: bool,
                                                     reason: str, tmp_path: Path) -> None:
    odd = issue_with_eku(pkis["ecdsa"].ca, usages, critical=critical)
    key_pem = odd.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    check = verify_token(cms_sign_token(tmp_path, odd.cert_pem, key_pem, DATA), data=DATA)
    assert not check.valid and reason in check.reason


# --------------------------------------------------------------------------------------------
# Our verifier against broken and foreign tokens


def test_altered_tokens_are_invalid_with_a_reason(pkis: dict[str, Pki]) -> None:
    pki = pkis["ecdsa"]
    token = pki.authority.stamp_data(DATA)
    imprint = hashlib.sha256(DATA).digest()
    altered = token.replace(imprint, hashlib.sha256(b"other").digest())
    assert altered != token
    check = verify_token(altered, data=b"other")
    assert not check.valid and "messageDigest" in check.reason

    content = cms.ContentInfo.load(token)
    signer = content["content"]["signer_infos"][0]
    signature = signer["signature"].native
    flipped = token.replace(signature, signature[:-6] + bytes(b ^ 1 for b in signature[-6:]))
    check = verify_token(flipped, data=DATA)
    assert not check.valid and "signature" in check.reason

    other = pkis["rsa"]
    check = verify_token(token, data=DATA, trusted_tsa_certs=[other.tsa.cert])
    assert not check.valid and "not among the trusted" in check.reason
    check = verify_token(token, data=DATA, algorithm="sha512")
    assert not check.valid and "sha512" in check.reason


def test_ess_cert_id_must_name_the_signing_certificate(pkis: dict[str, Pki]) -> None:
    """A token whose ESSCertIDv2 names another certificate than the one that signed it."""
    pki, other = pkis["ecdsa"], pkis["rsa"]
    authority = TimestampAuthority(pki.tsa.key, pki.tsa.cert)
    authority._ess_attribute_der = TimestampAuthority(other.tsa.key, other.tsa.cert)._ess_attribute_der
    check = verify_token(authority.stamp_data(DATA), data=DATA)
    assert not check.valid and "ESSCertIDv2" in check.reason


@pytest.mark.parametrize(
    ("name", "mangle"),
    [
        ("garbage", lambda token: b"this is not a time-stamp token at all"),
        ("empty", lambda token: b""),
        ("truncated", lambda token: token[: len(token) // 2]),
        ("one byte short", lambda token: token[:-1]),
        ("trailing bytes", lambda token: token + b"\x00"),
        ("pem", lambda token: b"-----BEGIN PKCS7-----\n" + base64.encodebytes(token) + b"-----END PKCS7-----\n"),
        ("length bomb", lambda token: b"\x30\x84\x7f\xff\xff\xff" + token[4:]),
        ("huge length of length", lambda token: b"\x30\x89" + b"\xff" * 9 + token[4:]),
        ("inner length bomb", lambda token: token[:4] + b"\x06\x84\x7f\xff\xff\xff" + token[15:]),
        ("indefinite nesting", lambda token: b"\x30\x80" * 50_000),
        ("sequence of nothing", lambda token: b"\x30\x00"),
        ("wrong content type", lambda token: cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()),
        ("too big", lambda token: b"\x30\x84" + (2 << 20).to_bytes(4, "big") + bytes(2 << 20)),
        ("a request", lambda token: make_request(hashlib.sha256(DATA).digest())),
    ],
)
def test_malformed_input_raises_timestamp_format_error(pkis: dict[str, Pki], name: str, mangle) -> None:
    token = pkis["ecdsa"].authority.stamp_data(DATA)
    with pytest.raises(TimestampFormatError):
        verify_token(mangle(token), data=DATA)


def test_text_and_wrong_types_are_refused(pkis: dict[str, Pki]) -> None:
    token = pkis["ecdsa"].authority.stamp_data(DATA)
    with pytest.raises(TimestampFormatError):
        verify_token(base64.b64encode(token).decode(), data=DATA)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_token(token)
    with pytest.raises(TypeError):
        verify_token(token, data=DATA, digest=hashlib.sha256(DATA).digest())
    with pytest.raises(TypeError):
        verify_token(token, digest=hashlib.sha256(DATA).hexdigest())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_token(token, data="bid.txt")  # type: ignore[arg-type]
    assert verify_token(bytearray(token), data=io.BytesIO(DATA)).valid


def test_random_mutations_never_escape_as_other_exceptions(pkis: dict[str, Pki]) -> None:
    tokens = [pki.authority.stamp_data(DATA, nonce=5) for pki in pkis.values()]
    rng = random.Random(3161)
    outcomes = {"valid": 0, "invalid": 0, "format": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about mangled certificate serials
        for _ in range(400):
            mutated = bytearray(rng.choice(tokens))
            position = rng.randrange(len(mutated))
            kind = rng.randrange(3)
            if kind == 0:
                mutated[position] = rng.randrange(256)
            elif kind == 1:
                del mutated[position:position + rng.randint(1, 6)]
            else:
                mutated[position:position] = rng.randbytes(rng.randint(1, 4))
            try:
                check = verify_token(bytes(mutated), data=DATA, nonce=5)
            except TimestampFormatError:
                outcomes["format"] += 1
            else:
                outcomes["valid" if check.valid else "invalid"] += 1
    assert outcomes["format"] and outcomes["invalid"]

    authority = pkis["ecdsa"].authority
    request = make_request(hashlib.sha256(DATA).digest(), nonce=new_nonce(), policy_oid=authority.policy_oid)
    statuses = set()
    for _ in range(300):
        mutated = bytearray(request)
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        statuses.add(parse_response(authority.respond(bytes(mutated))).status)
    assert statuses <= {"granted", "rejection"} and "rejection" in statuses


# --------------------------------------------------------------------------------------------
# Rejections


def _openssl_shows_rejection(tmp_path: Path, response: bytes, failure_text: str) -> None:
    (tmp_path / "rejected.tsr").write_bytes(response)
    text = openssl("ts", "-reply", "-in", tmp_path / "rejected.tsr", "-text").stdout
    assert "Status: Rejected." in text, text
    assert f"Failure info: {failure_text}" in text, text
    assert "TST info:\nNot included." in text


def _request(algorithm: str, digest: bytes) -> bytes:
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "cert_req": True,
    }).dump()


BAD_ALG = "unrecognized or unsupported algorithm identifier"
BAD_FORMAT = "the data submitted has the wrong format"


@needs_openssl
@pytest.mark.parametrize(
    ("name", "request_der", "failure", "failure_text"),
    [
        ("unknown hash", _request("1.3.6.1.4.1.32473.99", b"\x01" * 32), "bad_alg", BAD_ALG),
        ("sha1 refused", _request("sha1", hashlib.sha1(DATA).digest()), "bad_alg", BAD_ALG),
        ("short digest", _request("sha256", b"\x01" * 20), "bad_data_format", BAD_FORMAT),
        ("garbage", b"\x00\x01garbage", "bad_data_format", BAD_FORMAT),
        ("truncated", make_request(hashlib.sha256(DATA).digest())[:-3], "bad_data_format", BAD_FORMAT),
        ("pem", b"-----BEGIN TS REQUEST-----\nMAA=\n-----END TS REQUEST-----\n", "bad_data_format", BAD_FORMAT),
        ("length bomb", b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01", "bad_data_format", BAD_FORMAT),
        ("wrong version", tsp.TimeStampReq({
            "version": 2, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                              "hashed_message": b"\x01" * 32}}).dump(),
         "bad_data_format", BAD_FORMAT),
        ("other policy", make_request(hashlib.sha256(DATA).digest(), policy_oid="1.2.3.4"),
         "unaccepted_policy", "the requested TSA policy is not supported by the TSA"),
    ],
)
def test_bad_requests_are_rejected_with_failure_info(pkis: dict[str, Pki], name: str, request_der: bytes,
                                                     failure: str, failure_text: str, tmp_path: Path) -> None:
    response = pkis["rsa"].authority.respond(request_der)
    reply = parse_response(response)
    assert (reply.status, reply.failure, reply.token) == ("rejection", frozenset({failure}), None)
    assert reply.status_text
    _openssl_shows_rejection(tmp_path, response, failure_text)
    check = verify_token(response, data=DATA)
    assert not check.valid and failure in check.reason


@needs_openssl
def test_openssl_sha1_query_is_rejected(pkis: dict[str, Pki], data_file: Path, tmp_path: Path) -> None:
    request = tmp_path / "sha1.tsq"
    openssl("ts", "-query", "-data", data_file, "-sha1", "-cert", "-out", request)
    _openssl_shows_rejection(tmp_path, pkis["rsa"].authority.respond(request.read_bytes()), BAD_ALG)


def test_request_helpers_and_argument_checks(pkis: dict[str, Pki]) -> None:
    digest = hashlib.sha256(DATA).digest()
    request = make_request(digest, "SHA-256", nonce=42, cert_req=False)
    assert parse_request(request) == {
        "algorithm": "sha256", "digest": digest, "nonce": 42, "cert_req": False, "policy": None,
    }
    with pytest.raises(ValueError, match="sha1"):
        make_request(hashlib.sha1(DATA).digest(), "sha1")
    with pytest.raises(ValueError, match="32 bytes"):
        make_request(digest[:20])
    with pytest.raises(TimestampFormatError):
        parse_request(b"nonsense")

    authority = pkis["rsa"].authority
    with pytest.raises(ValueError):
        authority.stamp_digest(digest[:31])
    with pytest.raises(TypeError):
        authority.stamp_digest(digest.hex())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not belong"):
        TimestampAuthority(pkis["ecdsa"].tsa.key, pkis["rsa"].tsa.cert)
    granted = parse_response(authority.respond(request))
    assert granted.granted and granted.token is not None
    check = verify_token(granted.token, digest=digest, nonce=42, trusted_tsa_certs=[pkis["rsa"].tsa.cert])
    assert check.valid and check.certificates == (pkis["rsa"].tsa.cert,)


@needs_openssl
def test_certificate_validity_is_judged_at_gen_time(pkis: dict[str, Pki], data_file: Path, tmp_path: Path) -> None:
    """A token stays valid after its TSA certificate expires (the validator judges the path at
    genTime); a token made after expiry (OpenSSL's TSA does not look) is not."""
    base = pkis["ecdsa"]
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    expired = base.ca.issue("Expired TSA", usage=Usage.TIMESTAMPING, not_before=start, days=1)
    authority = TimestampAuthority(expired.key, expired.cert, clock=lambda: start + dt.timedelta(hours=2))
    check = verify_token(authority.stamp_data(DATA), data=DATA)
    assert check.valid, check.reason

    (tmp_path / "tsa.pem").write_bytes(expired.cert_pem)
    (tmp_path / "tsa.key").write_bytes(expired.key_pem)
    pki = Pki("ecdsa", base.ca, expired, base.ca_pem, tmp_path / "tsa.pem", tmp_path / "tsa.key", authority)
    config = tsa_config(tmp_path / "tsa.cnf", pki)
    openssl("ts", "-query", "-data", data_file, "-sha256", "-cert", "-out", tmp_path / "req.tsq")
    openssl("ts", "-reply", "-config", config, "-queryfile", tmp_path / "req.tsq", "-out", tmp_path / "resp.tsr")
    check = verify_token((tmp_path / "resp.tsr").read_bytes(), data=DATA)
    assert not check.valid and "not valid at genTime" in check.reason
