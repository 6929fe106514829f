"""Tests for ca_interop.opening_keys: a 3-of-5 opening key held by RSA and EC custodians,
recovered by any three and not by two, opening a bid sealed to the lot's opening
certificate; corrupted, foreign and misdirected shares refused; and a record that holds
no private key material."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca_interop import opening_keys
from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.envelopes import check_envelope, open_envelope, seal
from ca_interop.opening_keys import (
    CommitmentMismatch,
    CustodianRefused,
    DuplicateCustodian,
    NotEnoughShares,
    OpeningKeyRecord,
    ShareRejected,
    WrongCustodian,
    create_opening_key,
    decrypt_share,
    recover_opening_key,
)
from ca_interop.shamir import Share
from core.clock import utcnow
from core.errors import BidhallError, InvalidInput

OPENSSL = shutil.which("openssl")
LOT = "ZB-2024-0117-L03"


# --------------------------------------------------------------------------- fixtures


@dataclasses.dataclass
class World:
    rsa_ca: DemoCA
    ec_ca: DemoCA
    custodians: list[Issued]  # RSA, EC, RSA, EC, RSA
    records: dict[str, OpeningKeyRecord]
    shares: dict[str, list[Share]]  # decrypted, by algorithm, index order

    def certs(self) -> list[x509.Certificate]:
        return [custodian.cert for custodian in self.custodians]


@pytest.fixture(scope="module")
def world() -> World:
    rsa_ca = DemoCA.create("Custodian RSA CA", "rsa")
    ec_ca = DemoCA.create("Custodian EC CA", "ecdsa")
    custodians = [
        (rsa_ca if number % 2 else ec_ca).issue(f"Custodian {number}", usage=Usage.ENCRYPTION,
                                                person_id=f"11010119800101{number:04d}")
        for number in range(1, 6)
    ]
    certs = [custodian.cert for custodian in custodians]
    records = {
        "ecdsa": create_opening_key("ecdsa", custodians=certs, threshold=3, lot_reference=LOT),
        "rsa": create_opening_key("rsa", custodians=certs, threshold=3, lot_reference=LOT + "-R"),
    }
    shares = {
        algorithm: [decrypt_share(share, custodian.key, custodian.cert)
                    for share, custodian in zip(record.shares, custodians, strict=True)]
        for algorithm, record in records.items()
    }
    return World(rsa_ca, ec_ca, custodians, records, shares)


def same_key(key: Any, cert: x509.Certificate) -> bool:
    return bool(key.public_key().public_numbers() == cert.public_key().public_numbers())


# --------------------------------------------------------------------------- the record


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_record_describes_a_three_of_five_key(world: World, algorithm: str) -> None:
    record = world.records[algorithm]
    assert record.threshold == 3 and record.algorithm == algorithm
    assert [share.index for share in record.shares] == [1, 2, 3, 4, 5]
    assert record.custodian_fingerprints == [
        opening_keys._certificate_fingerprint(cert) for cert in world.certs()
    ]
    for share, cert in zip(record.shares, world.certs(), strict=True):
        assert share.custodian_subject == cert.subject.rfc4514_string()
        assert record.share_for(cert) is share
        info = check_envelope(share.envelope, required_recipients=[cert])
        assert len(info.recipients) == 1  # sealed to that custodian only
    assert len(record.key_commitment) == 64

    cert = record.certificate
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == record.lot_reference
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_agreement, usage.key_encipherment) == ((True, False) if algorithm == "ecdsa" else (False, True))
    assert not usage.digital_signature
    public = cert.public_key()
    if algorithm == "ecdsa":
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    else:
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    now = utcnow()
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now <= dt.timedelta(days=90)
    assert record.certificate_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    # the certificate is an acceptable envelope recipient
    seal(b"bid", [record.certificate_pem], io.BytesIO())


def test_validity_follows_the_tender_period(world: World) -> None:
    opening = utcnow() + dt.timedelta(days=20)
    record = create_opening_key(custodians=world.certs()[:2], threshold=2, lot_reference="L-short",
                                not_after=opening)
    assert abs(record.not_after - opening) < dt.timedelta(seconds=1)
    with pytest.raises(InvalidInput, match="not in the future"):
        create_opening_key(custodians=world.certs()[:2], threshold=2, lot_reference="L", not_after=utcnow())
    with pytest.raises(InvalidInput, match="one tender period"):
        create_opening_key(custodians=world.certs()[:2], threshold=2, lot_reference="L",
                           not_after=utcnow() + dt.timedelta(days=1000))


# --------------------------------------------------------------------------- recovering


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_any_three_custodians_recover_the_key(world: World, algorithm: str) -> None:
    record, shares = world.records[algorithm], world.shares[algorithm]
    for size in (3, 4, 5):
        for subset in itertools.combinations(shares, size):
            key = recover_opening_key(record, subset)
            assert same_key(key, record.certificate)


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_recovered_key_opens_a_bid_sealed_to_the_opening_certificate(
    world: World, algorithm: str, tmp_path: Path,
) -> None:
    record = world.records[algorithm]
    bidder = world.rsa_ca.issue("Bidder Co", usage=Usage.ENCRYPTION, uscc="91110000100000000X")
    bid = b"%PDF-1.7 price: 1 234 567.89 CNY" * 100
    sealed = io.BytesIO()
    seal(bid, [bidder.cert, record.certificate], sealed)
    check_envelope(sealed.getvalue(), required_recipients=[record.certificate])

    # the bidder cannot come to the opening: three custodians open with the lot's key
    key = recover_opening_key(record, [world.shares[algorithm][i] for i in (4, 0, 2)])
    open_envelope(sealed.getvalue(), key, record.certificate, tmp_path / "bid.pdf")
    assert (tmp_path / "bid.pdf").read_bytes() == bid


def test_two_shares_are_not_enough(world: World) -> None:
    record, shares = world.records["ecdsa"], world.shares["ecdsa"]
    for pair in itertools.combinations(shares, 2):
        with pytest.raises(NotEnoughShares, match="2 share\\(s\\) .* 3 are needed"):
            recover_opening_key(record, pair)
    with pytest.raises(NotEnoughShares, match="Custodian 2.*Custodian 4.*Custodian 5") as caught:
        recover_opening_key(record, [shares[0], shares[2]])
    assert isinstance(caught.value, BidhallError)
    with pytest.raises(NotEnoughShares):
        recover_opening_key(record, [])


def test_a_tampered_share_fails_the_commitment(world: World) -> None:
    record, shares = world.records["rsa"], world.shares["rsa"]
    value = bytearray(shares[1].value)
    value[len(value) // 2] ^= 0x01
    tampered = Share(2, bytes(value))
    with pytest.raises(CommitmentMismatch, match="not the committed opening key"):
        recover_opening_key(record, [shares[0], tampered, shares[2]])
    # the same custodian's share of another lot's key (same index, same length) is no better
    other = create_opening_key(custodians=world.certs(), threshold=3, lot_reference="Another lot")
    custodian = world.custodians[2]
    foreign = decrypt_share(other.shares[2], custodian.key, custodian.cert)
    ours = world.shares["ecdsa"]
    assert len(foreign.value) == len(ours[2].value)
    with pytest.raises(CommitmentMismatch):
        recover_opening_key(world.records["ecdsa"], [ours[0], ours[1], foreign])


def test_one_bad_share_among_more_than_enough_is_left_out(world: World, caplog: pytest.LogCaptureFixture) -> None:
    record, shares = world.records["ecdsa"], world.shares["ecdsa"]
    value = bytearray(shares[3].value)
    value[0] ^= 0xFF
    with caplog.at_level(logging.WARNING, logger="ca_interop.opening_keys"):
        key = recover_opening_key(record, [shares[0], shares[1], Share(4, bytes(value)), shares[4]])
    assert same_key(key, record.certificate)
    assert "4 (" in caplog.text and "Custodian 4" in caplog.text
    assert value.hex() not in caplog.text


def test_shares_that_do_not_belong_are_refused(world: World) -> None:
    record, shares = world.records["ecdsa"], world.shares["ecdsa"]
    with pytest.raises(ShareRejected, match="index 2\\) is given twice"):
        recover_opening_key(record, [shares[0], shares[1], shares[1], shares[2]])
    with pytest.raises(ShareRejected, match="share 6 is not one of the 5 shares"):
        recover_opening_key(record, [shares[0], shares[1], Share(6, shares[2].value)])
    with pytest.raises(ShareRejected, match="do not fit together"):
        recover_opening_key(record, [shares[0], shares[1], Share(3, shares[2].value + b"\x00")])


# --------------------------------------------------------------------------- the custodian's side


def test_custodian_decrypts_with_pem_key_and_certificate(world: World, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opening_keys, "_private_directory", lambda: str(tmp_path))
    custodian = world.custodians[1]
    share = decrypt_share(world.records["rsa"].shares[1], custodian.key_pem, custodian.cert_pem)
    assert share == world.shares["rsa"][1]
    assert list(tmp_path.iterdir()) == []  # the plaintext share is not left behind


def test_share_opened_by_the_wrong_custodian(world: World) -> None:
    record = world.records["ecdsa"]
    first, second = world.custodians[0], world.custodians[1]
    with pytest.raises(WrongCustodian, match="share 1 .* is sealed to 'CN=Custodian 1.*not to 'CN=Custodian 2"):
        decrypt_share(record.shares[0], second.key, second.cert)
    with pytest.raises(WrongCustodian, match="not the key of"):
        decrypt_share(record.shares[0], world.custodians[2].key, first.cert)  # another RSA key
    with pytest.raises(WrongCustodian, match="not the key of"):
        decrypt_share(record.shares[0], second.key, first.cert)  # an EC key for an RSA certificate
    with pytest.raises(WrongCustodian, match="no share"):
        record.share_for(world.rsa_ca.issue("Stranger", usage=Usage.ENCRYPTION).cert)


def test_damaged_or_moved_envelopes_are_refused(world: World) -> None:
    record, custodian = world.records["ecdsa"], world.custodians[0]
    share = record.shares[0]
    damaged = bytearray(share.envelope)
    damaged[-40] ^= 0x01  # in the encrypted content
    with pytest.raises(ShareRejected, match="envelope is damaged"):
        decrypt_share(dataclasses.replace(share, envelope=bytes(damaged)), custodian.key, custodian.cert)
    with pytest.raises(ShareRejected, match="envelope is damaged"):
        decrypt_share(dataclasses.replace(share, envelope=share.envelope[:100]), custodian.key, custodian.cert)
    # the same custodian's envelope from another lot's record
    foreign = world.records["rsa"].shares[0].envelope
    with pytest.raises(ShareRejected, match="another opening key"):
        decrypt_share(dataclasses.replace(share, envelope=foreign), custodian.key, custodian.cert)
    with pytest.raises(ShareRejected, match="holds share 1, not share 4"):
        decrypt_share(dataclasses.replace(share, index=4), custodian.key, custodian.cert)
    not_a_share = io.BytesIO()
    seal(b'{"hello": 1}', [custodian.cert], not_a_share)
    with pytest.raises(ShareRejected, match="does not hold a key share"):
        decrypt_share(dataclasses.replace(share, envelope=not_a_share.getvalue()), custodian.key, custodian.cert)


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
def test_custodian_can_open_the_share_with_openssl(world: World, tmp_path: Path) -> None:
    custodian, share = world.custodians[3], world.records["ecdsa"].shares[3]
    (tmp_path / "share.der").write_bytes(share.envelope)
    (tmp_path / "cert.pem").write_bytes(custodian.cert_pem)
    (tmp_path / "key.pem").write_bytes(custodian.key_pem)
    result = subprocess.run(
        [OPENSSL, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", "share.der",
         "-recip", "cert.pem", "-inkey", "key.pem"],
        cwd=tmp_path, capture_output=True, check=True, timeout=30,
    )
    payload = json.loads(result.stdout)
    assert payload["format"] == "bidhall-opening-key-share/1"
    assert (payload["index"], payload["threshold"], payload["lot_reference"]) == (4, 3, LOT)
    assert base64.b64decode(payload["value"]) == world.shares["ecdsa"][3].value


# --------------------------------------------------------------------------- no key material stored


def private_material(key: Any) -> dict[str, bytes]:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    numbers = key.private_numbers()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ints = {"scalar": numbers.private_value}
    else:
        ints = {name: getattr(numbers, name) for name in ("d", "p", "q", "dmp1", "dmq1", "iqmp")}
    material = {"pkcs8": der, "pem body": b"".join(pem.splitlines()[1:-1])}
    for name, value in ints.items():
        material[name] = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return material


def all_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in all_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in all_strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_the_record_holds_no_private_key_material(world: World, algorithm: str) -> None:
    record = world.records[algorithm]
    key = recover_opening_key(record, world.shares[algorithm][:3])
    text = record.to_json()
    lowered = text.lower()

    # every string of the JSON, raw and (where it decodes) base64-decoded and PEM-decoded
    blobs = [text.encode()]
    for string in all_strings(json.loads(text)):
        body = "".join(line for line in string.splitlines() if not line.startswith("-----"))
        try:
            blobs.append(base64.b64decode(body, validate=True))
        except ValueError:
            pass
    blobs += [share.envelope for share in record.shares]

    for name, secret in private_material(key).items():
        assert secret.hex() not in lowered, name
        assert base64.b64encode(secret).decode() not in text, name
        for blob in blobs:
            assert secret not in blob, name
            if name not in ("pkcs8", "pem body") and len(secret) >= 32:  # nor any 16-byte piece of one
                # (not of the PKCS#8 as a whole: it also holds the public key, which the certificate has)
                assert not any(secret[i:i + 16] in blob for i in range(0, len(secret) - 16, 8)), name

    # and no object in the record is a private key
    def walk(value: Any) -> None:
        assert not hasattr(value, "private_bytes")
        if dataclasses.is_dataclass(value):
            for item in dataclasses.fields(value):
                walk(getattr(value, item.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(record)
    assert "shares=" not in repr(record) and "certificate_der=" not in repr(record)


def test_record_round_trips_through_json(world: World) -> None:
    record = world.records["ecdsa"]
    again = OpeningKeyRecord.from_json(record.to_json())
    assert again == record
    assert json.loads(again.to_json())["certificate_fingerprint"] == record.certificate_fingerprint
    key = recover_opening_key(again, world.shares["ecdsa"][2:])
    assert same_key(key, record.certificate)

    data = json.loads(record.to_json())
    for change, message in [
        (lambda d: d.update(threshold=1), "threshold 1"),
        (lambda d: d.update(threshold=6), "threshold 6"),
        (lambda d: d.update(format="other"), "not an opening-key record"),
        (lambda d: d["shares"][1].update(index=1), "same index"),
        (lambda d: d["shares"][1].update(lot_reference="X"), "another opening key"),
        (lambda d: d["shares"][1].update(custodian_fingerprint="00" * 32), "fingerprint"),
        (lambda d: d.update(certificate_fingerprint="00" * 32), "fingerprint"),
        (lambda d: d.pop("key_commitment"), "not a complete"),
    ]:
        changed = json.loads(json.dumps(data))
        change(changed)
        with pytest.raises(ValueError, match=message):
            OpeningKeyRecord.from_dict(changed)


# --------------------------------------------------------------------------- refusals when creating


def _same_key_other_cert(ca: DemoCA, issued: Issued) -> x509.Certificate:
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Renewed custodian")]))
        .issuer_name(ca.cert.subject)
        .public_key(issued.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ca.key, hashes.SHA256())
    )


def test_duplicate_custodians_are_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    original = opening_keys._new_key
    monkeypatch.setattr(opening_keys, "_new_key", lambda algorithm: made.append(algorithm) or original(algorithm))
    certs = world.certs()
    with pytest.raises(DuplicateCustodian, match="custodian 4 .* same certificate as custodian 2"):
        create_opening_key(custodians=certs[:3] + [certs[1]], threshold=2, lot_reference=LOT)
    with pytest.raises(DuplicateCustodian, match="same certificate"):
        create_opening_key(custodians=[certs[0], world.custodians[0].cert_pem], threshold=2, lot_reference=LOT)
    renewed = _same_key_other_cert(world.ec_ca, world.custodians[1])
    with pytest.raises(DuplicateCustodian, match="same public key"):
        create_opening_key(custodians=[certs[0], certs[1], renewed], threshold=2, lot_reference=LOT)
    namesake = world.ec_ca.issue("Custodian 1", usage=Usage.ENCRYPTION, person_id="110101198001010001")
    with pytest.raises(DuplicateCustodian, match="same subject name"):
        create_opening_key(custodians=[certs[0], certs[1], namesake.cert], threshold=2, lot_reference=LOT)
    assert made == []  # refused before any key was made


def test_unusable_custodians_and_thresholds_are_refused(world: World) -> None:
    certs = world.certs()
    signing = world.rsa_ca.issue("Signing only")
    with pytest.raises(CustodianRefused, match="custodian 3 .* cannot receive a key share.*keyEncipherment"):
        create_opening_key(custodians=[certs[0], certs[1], signing.cert], threshold=2, lot_reference=LOT)
    expired = world.ec_ca.issue("Old custodian", usage=Usage.ENCRYPTION,
                                not_before=utcnow() - dt.timedelta(days=400), days=30)
    with pytest.raises(CustodianRefused, match="expired"):
        create_opening_key(custodians=[certs[0], expired.cert], threshold=2, lot_reference=LOT)
    with pytest.raises(CustodianRefused, match="custodian 2: not a readable"):
        create_opening_key(custodians=[certs[0], b"not a certificate"], threshold=2, lot_reference=LOT)
    for threshold in (1, 0, 6):
        with pytest.raises(CustodianRefused, match=f"threshold {threshold} with 5 custodians"):
            create_opening_key(custodians=certs, threshold=threshold, lot_reference=LOT)
    with pytest.raises(CustodianRefused, match="1 custodian"):
        create_opening_key(custodians=certs[:1], threshold=1, lot_reference=LOT)
    with pytest.raises(CustodianRefused, match="a list"):
        create_opening_key(custodians=certs[0], threshold=2, lot_reference=LOT)  # type: ignore[arg-type]
    assert issubclass(CustodianRefused, ValueError) and issubclass(CustodianRefused, BidhallError)


def test_an_sm2_custodian_holds_a_share_like_the_others(world: World) -> None:
    from ca_interop.demo_pki_sm2 import Sm2DemoCA

    sm2 = Sm2DemoCA.create("SM2 CA").issue("SM2 custodian", usage=Usage.ENCRYPTION)
    first, second = world.custodians[0], world.custodians[1]
    record = create_opening_key(custodians=[first.cert, sm2.cert_der, second.cert], threshold=2,
                                lot_reference="L-SM2")
    assert record.shares[1].custodian_subject == "CN=SM2 custodian,C=CN"
    share = decrypt_share(record.shares[1], sm2.key, sm2.cert_pem)
    also = decrypt_share(record.shares[2], second.key_pem, second.cert)
    assert same_key(recover_opening_key(record, [share, also]), record.certificate)
    with pytest.raises(WrongCustodian, match="not the key of"):
        decrypt_share(record.shares[1], Sm2DemoCA.create("Other").key, sm2.cert_der)


def test_bad_lot_references_and_algorithms_are_refused(world: World) -> None:
    certs = world.certs()[:2]
    for reference in ("", " L1", "L\n1", "x" * 65):
        with pytest.raises(InvalidInput):
            create_opening_key(custodians=certs, threshold=2, lot_reference=reference)
    with pytest.raises(InvalidInput, match="unknown opening-key algorithm 'sm2'"):
        create_opening_key("sm2", custodians=certs, threshold=2, lot_reference=LOT)
    record = create_opening_key(custodians=certs, threshold=2, lot_reference="x" * 64)
    assert record.certificate.subject.rfc4514_string() == "CN=" + "x" * 64 + ",OU=Lot opening key"
