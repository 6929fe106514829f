"""``bidhall client ...`` against a real uvicorn server: a bidder signs in with its
certificate, fetches documents, seals, submits (resuming an interrupted upload), checks
its receipt, withdraws, and follows and decrypts at the opening; every refusal is one line
and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import stat
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives import serialization

from core.actors import Role
from core.clock import utcnow
from identities import service
from identities.models import Token
from tests.factories import PASSWORD, make_user
from tests.trading.bid_factories import prepare_runtime
from tests.trading.factories import Bidder, OpenLot, make_bidder, open_lot, trusted_ca
from tests.trading.opening_factories import opening_scene
from trading import documents
from trading.bid_models import Bid, Upload
from trading.models import DocumentDownload
from trading.opening_models import DecryptionAttempt
from web import cli, cli_client
from web.app import create_app
from web.runtime import Runtime

# --- a server, the command, a bidder's files ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[str]:
    """uvicorn on a loopback port in the test's event loop (sharing its database engine)."""
    port = _free_port()
    config = uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", ws="websockets-sansio")
    running = uvicorn.Server(config)
    task = asyncio.ensure_future(running.serve())
    while not running.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    await task


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(["client", *args])
        except SystemExit as exit_:  # argparse's usage errors
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(list(args), code, stdout.getvalue(), stderr.getvalue())


async def bidhall_client(*args: str) -> subprocess.CompletedProcess[str]:
    """``bidhall client ARGS`` in a thread of its own (it runs its own event loop) while the
    server goes on serving in this one."""
    result = await asyncio.to_thread(_run, *args)
    assert "Traceback" not in result.stderr
    return result


def refused(result: subprocess.CompletedProcess[str], *fragments: str, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert line.startswith("bidhall: ") and "\n" not in line, line
    for fragment in fragments:
        assert fragment in line, line
    return line


def ok(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@dataclass
class Desk:
    """A bidder at its desk: key files, the profile, the platform's address."""

    url: str
    bidder: Bidder
    profile: Path
    files: Path

    def opts(self) -> tuple[str, ...]:
        return ("--profile", str(self.profile), "--json")

    async def login(self, *extra: str) -> subprocess.CompletedProcess[str]:
        (self.files / "password").write_text(PASSWORD + "\n")
        return await bidhall_client(
            "login", *self.opts(), "--url", self.url, "--key", str(self.files / "sign.key"),
            "--cert", str(self.files / "sign.pem"), "--encryption-cert", str(self.files / "enc.pem"),
            "--encryption-key", str(self.files / "enc.key"), "--bind-as", self.bidder.user.username,
            "--password-file", str(self.files / "password"), *extra)

    def profile_data(self) -> dict:
        return json.loads(self.profile.read_text())


def desk_for(url: str, bidder: Bidder, directory: Path) -> Desk:
    files = directory / "usb-key"
    files.mkdir(parents=True)
    (files / "sign.key").write_bytes(bidder.signing.key_pem)
    (files / "sign.pem").write_bytes(bidder.signing.cert_pem)
    (files / "enc.key").write_bytes(bidder.encryption.key_pem)
    (files / "enc.pem").write_bytes(bidder.encryption.cert_pem)
    return Desk(url=url, bidder=bidder, profile=directory / "config" / "client.json", files=files)


async def bidding_desk(runtime: Runtime, url: str, tmp_path: Path, **lot_options: object) -> tuple[Desk, OpenLot]:
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        made = await open_lot(session, **lot_options)  # type: ignore[arg-type]
    prepare_runtime(runtime, ca)
    return desk_for(url, bidder, tmp_path), made


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- the whole way -----------------------------------------------------------------------------


async def test_a_bidder_signs_in_reads_seals_submits_and_withdraws(runtime: Runtime, server: str,
                                                                   tmp_path: Path) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    async def body() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7 tender document " * 50

    async with runtime.database.transaction() as session:
        document = await documents.upload_document(
            session, made.tenderer, made.project.id, name="tender.pdf", kind="tender_documents",  # type: ignore[arg-type]
            lot_id=None, media_type="application/pdf", content=body(), blobs=runtime.blobs, max_bytes=10**6)

    login = await desk.login()
    assert ok(login)[0]["username"] == desk.bidder.user.username
    stored = desk.profile_data()
    assert stored["token"] and stored["token"] not in login.stdout + login.stderr
    assert stat.S_IMODE(desk.profile.stat().st_mode) == 0o600

    assert ok(await bidhall_client("whoami", *desk.opts()))[0]["party_id"] == desk.bidder.party.id
    lots = ok(await bidhall_client("lots", *desk.opts()))
    assert [lot["code"] for lot in lots] == [made.lot.code]
    listed = ok(await bidhall_client("documents", made.lot.code, *desk.opts()))
    assert [row["id"] for row in listed] == [document.id]
    out = tmp_path / "docs" / "tender.pdf"
    ok(await bidhall_client("download", str(made.lot.id), str(document.id), "--out", str(out), *desk.opts()))
    assert out.read_bytes() == b"%PDF-1.7 tender document " * 50
    assert await _count(runtime, DocumentDownload) == 1, "the download is recorded"

    plaintext = tmp_path / "bid.zip"
    plaintext.write_bytes(b"PK\x03\x04 the bid " * 2000)
    envelope = tmp_path / "bid.p7m"
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(envelope), *desk.opts()))
    receipt = tmp_path / "receipt.json"
    submitted = ok(await bidhall_client("submit", made.lot.code, str(envelope), "--receipt-out", str(receipt),
                                        "--chunk-size", "8192", *desk.opts()))[0]
    assert submitted["receipt_verified"] and json.loads(receipt.read_text())["bid_id"] == submitted["bid"]["id"]
    assert desk.profile_data()["uploads"] == {}, "a submitted upload is no longer pending"
    verified = await bidhall_client("receipt", "verify", str(receipt), "--profile", str(desk.profile))
    assert verified.returncode == 0 and "verifies" in verified.stdout
    bid_id = submitted["bid"]["id"]
    assert [bid["id"] for bid in ok(await bidhall_client("bids", made.lot.code, *desk.opts()))] == [bid_id]

    withdrawn = ok(await bidhall_client("withdraw", str(bid_id), "--reason", "price error", *desk.opts()))[0]
    assert withdrawn["status"] == "withdrawn"

    ok(await bidhall_client("logout", *desk.opts()))
    assert desk.profile_data()["token"] is None
    refused(await bidhall_client("documents", made.lot.code, *desk.opts()), "not logged in")
    async with httpx.AsyncClient(base_url=server) as http:
        gone = await http.get("/auth/me", headers={"authorization": f"Bearer {stored['token']}"})
    assert gone.status_code == 401, "logout revoked the session on the platform"


async def test_an_interrupted_submit_resumes_where_the_platform_stands(
    runtime: Runtime, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    ok(await desk.login())
    plaintext = tmp_path / "bid.zip"
    plaintext.write_bytes(bytes(range(256)) * 400)
    envelope = tmp_path / "bid.p7m"
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(envelope), *desk.opts()))
    offsets: list[int] = []

    class Wire(httpx.AsyncHTTPTransport):
        """The real connection; with ``cut_after`` the machine dies after that many chunks."""

        cut_after: int | None = 3

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":
                if self.cut_after is not None and len(offsets) == self.cut_after:
                    raise RuntimeError("power cut")
                offsets.append(int(request.url.params["offset"]))
            return await super().handle_async_request(request)

    monkeypatch.setattr(cli_client, "make_http", lambda url: httpx.AsyncClient(base_url=url, transport=Wire()))
    receipt = tmp_path / "receipt.json"
    submit = ("submit", str(made.lot.id), str(envelope), "--receipt-out", str(receipt), "--chunk-size", "4096",
              *desk.opts())
    refused(await bidhall_client(*submit), "unexpected error", "power cut", code=1)
    assert not receipt.exists() and await _count(runtime, Bid) == 0
    (upload_id,) = desk.profile_data()["uploads"].values()
    async with httpx.AsyncClient(base_url=server) as http:  # the platform answers once its records are in
        standing = await http.get(f"/uploads/{upload_id}",
                                  headers={"authorization": f"Bearer {desk.profile_data()['token']}"})
    assert standing.json()["received"] == 3 * 4096, standing.text

    Wire.cut_after = None
    offsets.clear()
    submitted = ok(await bidhall_client(*submit))[0]
    assert offsets[0] == 3 * 4096, "the second run sends only what the platform lacks"
    assert submitted["receipt_verified"] and desk.profile_data()["uploads"] == {}
    assert await _count(runtime, Upload) == 1, "the same upload, resumed"


async def test_chunks_in_flight_are_the_bidder_s_choice(
    runtime: Runtime, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    ok(await desk.login())
    plaintext, envelope, receipt = tmp_path / "bid.zip", tmp_path / "bid.p7m", tmp_path / "receipt.json"
    plaintext.write_bytes(bytes(range(256)) * 300)
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(envelope), *desk.opts()))
    open_now, most_at_once = 0, 0

    class Wire(httpx.AsyncHTTPTransport):
        """The real connection, counting the chunks on their way at the same time."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal open_now, most_at_once
            if request.method != "PUT":
                return await super().handle_async_request(request)
            open_now += 1
            most_at_once = max(most_at_once, open_now)
            try:
                return await super().handle_async_request(request)
            finally:
                open_now -= 1

    monkeypatch.setattr(cli_client, "make_http", lambda url: httpx.AsyncClient(base_url=url, transport=Wire()))
    submit = ("submit", made.lot.code, str(envelope), "--receipt-out", str(receipt), "--chunk-size", "4096")
    too_many = await bidhall_client(*submit, "--chunks-in-flight", "9", *desk.opts())
    assert too_many.returncode == 2 and "--chunks-in-flight" in too_many.stderr, too_many.stderr
    assert not receipt.exists() and await _count(runtime, Upload) == 0, "nothing sent"
    submitted = ok(await bidhall_client(*submit, "--chunks-in-flight", "2", *desk.opts()))[0]
    assert submitted["receipt_verified"]
    assert most_at_once == 2, "two chunks on their way at once"


# --- refusals ----------------------------------------------------------------------------------


async def test_refusals_are_one_line_with_the_reason(runtime: Runtime, server: str, tmp_path: Path) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    refused(await bidhall_client("lots", *desk.opts()), "not logged in", "bidhall client login")
    not_bound = ("login", *desk.opts(), "--url", server, "--key", str(desk.files / "sign.key"),
                 "--cert", str(desk.files / "sign.pem"), "--encryption-cert", str(desk.files / "enc.pem"))
    refused(await bidhall_client(*not_bound), "refused (401")
    assert not desk.profile.exists(), "a failed sign-in stores nothing"
    refused(await bidhall_client(*not_bound[:-1], str(desk.files / "missing.pem")),
            "cannot read the encryption certificate", "missing.pem")
    (tmp_path / "wrong-password").write_text("not the password\n")
    refused(await bidhall_client(*not_bound, "--bind-as", desk.bidder.user.username,
                                 "--password-file", str(tmp_path / "wrong-password")), "refused (401")
    assert not desk.profile.exists()
    refused(await bidhall_client("submit", "1", str(tmp_path / "none.p7m"), "--receipt-out", "r.json",
                                 *desk.opts()), "none.p7m")
    ok(await desk.login())
    refused(await bidhall_client("documents", "NO-SUCH-LOT", *desk.opts()), "no published lot 'NO-SUCH-LOT'")
    refused(await bidhall_client("download", made.lot.code, "999", "--out", str(tmp_path / "x"), *desk.opts()),
            "has no document 999")
    assert not (tmp_path / "x").exists()

    plaintext = tmp_path / "bid.zip"
    plaintext.write_bytes(b"PK\x03\x04 an unsealed bid " * 500)
    receipt = tmp_path / "receipt.json"
    line = refused(await bidhall_client("submit", made.lot.code, str(plaintext), "--receipt-out", str(receipt),
                                        *desk.opts()), "refused (422 Not a sealed envelope)", "discarded")
    assert "PK" not in line[:20]
    assert not receipt.exists() and await _count(runtime, Bid) == 0
    assert desk.profile_data()["uploads"] == {}, "the discarded upload is not left pending"

    good = tmp_path / "bid.p7m"
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(good), *desk.opts()))
    refused(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(tmp_path / "other.p7m"),
                                 "--expect-fingerprint", "0" * 64, *desk.opts()), "not the published")
    assert not (tmp_path / "other.p7m").exists()
    ok(await bidhall_client("submit", made.lot.code, str(good), "--receipt-out", str(receipt), *desk.opts()))
    refused(await bidhall_client("submit", made.lot.code, str(good), "--receipt-out", str(tmp_path / "again.json"),
                                 *desk.opts()), "refused (409", "already has bid", "replace it")
    (first,) = ok(await bidhall_client("bids", made.lot.code, *desk.opts()))
    replaced = ok(await bidhall_client("submit", made.lot.code, str(good), "--replaces", str(first["id"]),
                                       "--receipt-out", str(tmp_path / "again.json"), *desk.opts()))[0]
    assert replaced["bid"]["replaces_bid_id"] == first["id"] and replaced["receipt_verified"]
    assert await _count(runtime, Upload) == 2, "the refused run's completed upload was the one used"
    refused(await bidhall_client("withdraw", "424242", *desk.opts()), "refused (404", "bid 424242 does not exist")


async def test_a_tampered_receipt_is_named(runtime: Runtime, server: str, tmp_path: Path) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    ok(await desk.login())
    plaintext = tmp_path / "bid.zip"
    plaintext.write_bytes(b"the bid" * 1000)
    envelope, receipt = tmp_path / "bid.p7m", tmp_path / "receipt.json"
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(envelope), *desk.opts()))
    ok(await bidhall_client("submit", made.lot.code, str(envelope), "--receipt-out", str(receipt), *desk.opts()))
    verify = ("receipt", "verify", str(receipt), "--profile", str(desk.profile))
    async with httpx.AsyncClient(base_url=server) as http:
        keys = (await http.get("/receipt-keys")).json()
    tsa, platform = tmp_path / "tsa.pem", tmp_path / "platform.pem"
    tsa.write_text(keys["tsa_certificate"])
    platform.write_text(keys["platform_public_key"])
    pinned = ("receipt", "verify", str(receipt), "--tsa-cert", str(tsa), "--platform-key", str(platform),
              "--profile", str(tmp_path / "no-profile.json"))
    offline = await bidhall_client(*pinned)  # no profile, no server asked
    assert offline.returncode == 0 and "verifies" in offline.stdout, offline.stderr

    tampered = json.loads(receipt.read_text())
    tampered["envelope_sha256"] = "0" * 64
    receipt.write_text(json.dumps(tampered))
    refused(await bidhall_client(*verify), "the receipt does not verify", "envelope_sha256", code=1)
    refused(await bidhall_client(*pinned), "the receipt does not verify", "envelope_sha256", code=1)
    refused(await bidhall_client(*pinned[:5], "--profile", str(desk.profile)), "both --tsa-cert and --platform-key")
    receipt.write_text("{not json")
    refused(await bidhall_client(*verify), "is not JSON")


@pytest.mark.parametrize("how", ["revoked", "expired"])
async def test_an_ended_session_is_refused_with_its_reason(runtime: Runtime, server: str, tmp_path: Path,
                                                           how: str) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path)
    ok(await desk.login())
    token = desk.profile_data()["token"]
    if how == "revoked":
        async with httpx.AsyncClient(base_url=server) as http:
            assert (await http.post("/auth/logout", headers={"authorization": f"Bearer {token}"})).status_code == 204
        reason = "this token was revoked"
    else:
        async with runtime.database.transaction() as session:
            await session.execute(sa.update(Token).where(Token.user_id == desk.bidder.user.id)
                                  .values(expires_at=utcnow() - timedelta(minutes=1)))
        reason = "this token expired"
    refused(await bidhall_client("documents", made.lot.code, *desk.opts()), "refused (401", reason,
            "sign in again")
    signed_out = ok(await bidhall_client("logout", *desk.opts()))[0]
    assert "already ended" in signed_out["note"] and desk.profile_data()["token"] is None


async def test_a_submission_after_the_deadline_is_refused(runtime: Runtime, server: str, tmp_path: Path) -> None:
    desk, made = await bidding_desk(runtime, server, tmp_path, deadline=utcnow() - timedelta(seconds=1))
    ok(await desk.login())
    plaintext, envelope = tmp_path / "bid.zip", tmp_path / "bid.p7m"
    plaintext.write_bytes(b"late" * 1000)
    ok(await bidhall_client("seal", made.lot.code, str(plaintext), "--out", str(envelope), *desk.opts()))
    refused(await bidhall_client("submit", made.lot.code, str(envelope), "--receipt-out",
                                 str(tmp_path / "receipt.json"), *desk.opts()),
            f"the bid deadline of lot {made.lot.code} has passed")
    assert await _count(runtime, Bid) == 0 and await _count(runtime, Upload) == 0
    assert desk.profile_data()["uploads"] == {}


# --- the opening -------------------------------------------------------------------------------


async def start_opening(runtime: Runtime, url: str, lot_id: int) -> None:
    async with runtime.database.transaction() as session:
        host = await make_user(session, Role.CENTER_STAFF)
        _, token = await service.sign_in(session, host.username, PASSWORD, source_address="127.0.0.1", hours=1)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}) as http:
        started = await http.post(f"/lots/{lot_id}/opening", json={"window_minutes": 30})
    assert started.status_code == 201, started.text


async def test_following_the_opening_and_handing_over_the_key(runtime: Runtime, server: str,
                                                              tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path / "bids")  # three: a quorum
    runtime.revocation = scene.ca.revocation
    sealed = scene.bids[0]
    desk = desk_for(server, sealed.bidder, tmp_path / "desk")
    ok(await desk.login())
    lot = scene.tender.lot.code

    refused(await bidhall_client("opening", "decrypt", lot, *desk.opts()), "refused (404", "has not started")
    await start_opening(runtime, server, scene.lot_id)
    handed = ok(await bidhall_client("opening", "decrypt", lot, *desk.opts()))[0]
    assert handed["bid_id"] == sealed.bid.id and handed["row"]["outcome"] == "opened"
    events = ok(await bidhall_client("opening", "follow", lot, "--count", "2", *desk.opts()))
    assert [event["type"] for event in events] == ["trading.opening_started", "trading.opening_key_accepted"]
    assert all(event["source"] is None for event in events)
    human = await bidhall_client("opening", "follow", lot, "--count", "1", "--profile", str(desk.profile))
    assert human.returncode == 0 and "trading.opening_started" in human.stdout
    refused(await bidhall_client("opening", "decrypt", lot, "--bid", "424242", *desk.opts()), "no bid 424242")


async def test_decrypt_with_another_key_is_refused_here(runtime: Runtime, server: str, tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path / "bids")
    runtime.revocation = scene.ca.revocation
    desk = desk_for(server, scene.bids[0].bidder, tmp_path / "desk")
    ok(await desk.login())
    await start_opening(runtime, server, scene.lot_id)
    stranger = tmp_path / "other.key"
    stranger.write_bytes(scene.bids[1].bidder.encryption.key_pem)
    refused(await bidhall_client("opening", "decrypt", scene.tender.lot.code, "--encryption-key", str(stranger),
                                 *desk.opts()), f"does not open the envelope of bid {scene.bids[0].bid.id}")
    async with runtime.database.reader() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(DecryptionAttempt))) == 0, \
            "nothing reached the platform"


def _encrypted(key_pem: bytes, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password))


async def test_encrypted_keys_are_opened_with_their_password(runtime: Runtime, server: str, tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path / "bids")
    runtime.revocation = scene.ca.revocation
    sealed = scene.bids[0]
    desk = desk_for(server, sealed.bidder, tmp_path / "desk")
    for name, pem in (("sign.key", sealed.bidder.signing.key_pem), ("enc.key", sealed.bidder.encryption.key_pem)):
        (desk.files / name).write_bytes(_encrypted(pem, b"usb-key-pin"))
    wrong, right = tmp_path / "wrong-pin", tmp_path / "pin"
    wrong.write_text("not-the-pin\n")
    right.write_text("usb-key-pin\n")

    refused(await desk.login(), "signing key", "is encrypted", "--key-password-file")  # no terminal to ask on
    refused(await desk.login("--key-password-file", str(wrong)), "cannot open the signing key", "wrong password")
    assert not desk.profile.exists(), "a refused sign-in keeps nothing"
    ok(await desk.login("--key-password-file", str(right)))

    await start_opening(runtime, server, scene.lot_id)
    lot = scene.tender.lot.code
    refused(await bidhall_client("opening", "decrypt", lot, *desk.opts()), "encryption key", "is encrypted")
    refused(await bidhall_client("opening", "decrypt", lot, "--key-password-file", str(wrong), *desk.opts()),
            "cannot open the encryption key", "wrong password")
    handed = ok(await bidhall_client("opening", "decrypt", lot, "--key-password-file", str(right), *desk.opts()))[0]
    assert handed["bid_id"] == sealed.bid.id and handed["row"]["outcome"] == "opened"
