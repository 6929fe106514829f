"""The two halves of a remote opening: unwrap_content_key on the bidder's machine,
open_with_content_key on the platform (AES-256-GCM and SM4-GCM; our envelopes and
OpenSSL's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.demo_pki_sm2 import Sm2DemoCA
from ca_interop.envelopes import (
    EnvelopeFormatError,
    NotARecipient,
    WrongContentKey,
    envelope_head,
    open_envelope,
    open_with_content_key,
    seal,
    unwrap_content_key,
)
from tests.ca_interop.test_envelopes import MiB, Pipe, files_in, needs_openssl, openssl

DATA = os.urandom(2 * MiB + 777) + b"opening sheet: total price 11,800,000.00 yuan\n"


@pytest.fixture(scope="module")
def certificates() -> dict:
    rsa_ca, ec_ca = DemoCA.create("Remote RSA CA", "rsa"), DemoCA.create("Remote EC CA", "ecdsa")
    sm2_ca = Sm2DemoCA.create("Remote SM2 CA")
    return {
        "rsa": rsa_ca.issue("Bidder RSA encryption", usage=Usage.ENCRYPTION),
        "ec": ec_ca.issue("Bidder EC encryption", usage=Usage.ENCRYPTION),
        "lot": ec_ca.issue("Lot opening key", usage=Usage.ENCRYPTION),
        "stranger": ec_ca.issue("Someone else", usage=Usage.ENCRYPTION),
        "sm2": sm2_ca.issue("Bidder SM2 encryption", usage=Usage.ENCRYPTION),
        "sm2_lot": sm2_ca.issue("Lot SM2 opening key", usage=Usage.ENCRYPTION),
    }


def _sealed(tmp_path: Path, recipients: list) -> Path:
    envelope = tmp_path / "bid.der"
    seal(DATA, recipients, envelope)
    return envelope


@pytest.mark.parametrize("bidder,lot,algorithm", [("rsa", "lot", "aes-256-gcm"), ("ec", "lot", "aes-256-gcm"),
                                                   ("sm2", "sm2_lot", "sm4-gcm")])
def test_bidder_unwraps_and_platform_opens(tmp_path: Path, certificates: dict, bidder: str, lot: str,
                                           algorithm: str) -> None:
    issued, lot_issued = certificates[bidder], certificates[lot]
    envelope = _sealed(tmp_path, [issued.cert, lot_issued.cert])
    content_key = unwrap_content_key(envelope, issued.key, issued.cert)
    assert len(content_key) == (16 if algorithm == "sm4-gcm" else 32)
    # The opening certificate's recipient carries the same key (the custodian fallback).
    assert unwrap_content_key(envelope, lot_issued.key, lot_issued.cert) == content_key
    # The head alone (recipient infos) is enough on the bidder's machine.
    head = envelope_head(envelope)
    assert len(head) < 2048 and envelope.read_bytes().startswith(head)
    assert unwrap_content_key(head, issued.key, issued.cert) == content_key
    out = tmp_path / "out" / "package.zip"
    out.parent.mkdir()
    for source in (envelope, Pipe(envelope)):
        info = open_with_content_key(source, content_key, out)
        assert out.read_bytes() == DATA and info.content_algorithm == algorithm
        out.unlink()


@pytest.mark.parametrize("bidder,lot", [("ec", "lot"), ("sm2", "sm2_lot")])
def test_wrong_content_key_is_refused_and_leaves_no_file(tmp_path: Path, certificates: dict, bidder: str,
                                                         lot: str) -> None:
    issued = certificates[bidder]
    envelope = _sealed(tmp_path, [issued.cert, certificates[lot].cert])
    right = unwrap_content_key(envelope, issued.key, issued.cert)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    wrong = bytes([right[0] ^ 1]) + right[1:]
    with pytest.raises(WrongContentKey, match="does not open this envelope"):
        open_with_content_key(envelope, wrong, out_dir / "package.zip")
    assert files_in(out_dir) == set()
    with pytest.raises(WrongContentKey, match=f"{len(right) + 1} bytes"):
        open_with_content_key(envelope, right + b"x", out_dir / "package.zip")
    assert files_in(out_dir) == set()
    # An existing destination survives a refused key.
    (out_dir / "package.zip").write_bytes(b"before")
    with pytest.raises(WrongContentKey):
        open_with_content_key(Pipe(envelope), wrong, out_dir / "package.zip")
    assert (out_dir / "package.zip").read_bytes() == b"before" and files_in(out_dir) == {"package.zip"}


def test_wrong_content_key_is_invalid_input_with_a_stable_code() -> None:
    from core.errors import InvalidInput

    assert issubclass(WrongContentKey, InvalidInput) and WrongContentKey.code == "envelope-wrong-content-key"


def test_not_a_recipient_and_not_an_envelope(tmp_path: Path, certificates: dict) -> None:
    envelope = _sealed(tmp_path, [certificates["ec"].cert])
    stranger = certificates["stranger"]
    with pytest.raises(NotARecipient, match="not sealed to"):
        unwrap_content_key(envelope, stranger.key, stranger.cert)
    with pytest.raises(NotARecipient, match="not the key of"):
        unwrap_content_key(envelope, stranger.key, certificates["ec"].cert)
    with pytest.raises(EnvelopeFormatError, match="plain text"):
        open_with_content_key(b"total price 100.00 yuan\n" * 10, os.urandom(32), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@needs_openssl
@pytest.mark.parametrize("options", [(), ("-stream",), ("-keyid",)])
def test_openssl_envelope_opens_in_two_halves(tmp_path: Path, certificates: dict, options: tuple) -> None:
    paths = {}
    for name in ("rsa", "ec"):
        issued = certificates[name]
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(issued.cert_pem)
    source = tmp_path / "plain.bin"
    source.write_bytes(DATA[:300_000])
    envelope = tmp_path / "openssl.der"
    openssl("cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER", "-in", source, "-out", envelope,
            *options, "-recip", paths["rsa"], "-recip", paths["ec"])
    out = tmp_path / "out.bin"
    for name in ("rsa", "ec"):
        key = unwrap_content_key(envelope, certificates[name].key, certificates[name].cert)
        info = open_with_content_key(envelope, key, out)
        assert out.read_bytes() == DATA[:300_000] and info.content_algorithm == "aes-256-gcm"
        assert info.encoding == ("BER" if options == ("-stream",) else "DER")
        out.unlink()
    # And the whole-key path agrees with the two halves.
    open_envelope(envelope, certificates["ec"].key, certificates["ec"].cert, out)
    assert out.read_bytes() == DATA[:300_000]
