"""``bidhall client ...``: the bidder's command line, run on the bidder's own machine.

    bidhall client login --url https://bidhall.example --key sign.key --cert sign.pem \\
        --encryption-cert enc.pem --encryption-key enc.key
    bidhall client lots
    bidhall client seal LOT bid.zip --out bid.p7m
    bidhall client submit LOT bid.p7m --receipt-out receipt.json

It drives :class:`web.bidder_client.BidderClient` and the opening client, so keys never
leave this machine: sealing, signing and unwrapping happen here. The profile file keeps
the platform's address, the session token (mode 0600, never printed), where the key files
are (not the keys) and the uploads not yet submitted, so a second ``submit`` after an
interrupted one resumes where the platform stands.

Exit codes: 0 done; 2 refused or bad input (the platform's problem detail on one line);
1 anything unexpected, or a receipt that does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ca_interop.envelopes import EnvelopeError
from ca_interop.signatures import load_signing_key
from core.errors import BidhallError
from core.settings import Settings
from web.bidder_client import (
    CHUNKS_IN_FLIGHT,
    CHUNKS_IN_FLIGHT_FAR,
    DEFAULT_CHUNK,
    MAX_CHUNKS_IN_FLIGHT,
    BidderClient,
    BidderCredentials,
    BidderError,
)
from web.bidder_client_opening import OpeningClient, OpeningRefused, follow_opening
from web.cli_support import fail

PROFILE_NAME = "client.json"
LAST_OPENING_EVENT = "trading.opening_record_published"
MAX_KEY_FILE_BYTES = 1024 * 1024


class Refused(Exception):
    """Bad input found on this side (no session, unknown lot, unreadable file): exit 2."""


class ReceiptInvalid(Exception):
    """A receipt that does not prove what it states: exit 1 with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the receipt does not verify: " + "; ".join(problems))
        self.problems = problems


def default_profile() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "bidhall" / PROFILE_NAME


def make_http(base_url: str) -> httpx.AsyncClient:
    """The HTTP client every command talks through (one place to swap the transport)."""
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60, connect=10))


# --- the profile ----------------------------------------------------------------------------


class Profile:
    """The profile file: platform address, session, key file locations, pending uploads."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise Refused(f"not logged in (no profile at {path}): run 'bidhall client login' first") from None
        except (OSError, ValueError) as error:
            raise Refused(f"cannot read the profile {path}: {error}") from None
        if not isinstance(data, dict) or not data.get("url"):
            raise Refused(f"the profile {path} is not a bidhall client profile: log in again")
        return cls(path, data)

    @property
    def url(self) -> str:
        return str(self.data["url"])

    def token(self) -> str:
        token = self.data.get("token")
        if not token:
            raise Refused(f"not logged in (signed out in {self.path}): run 'bidhall client login' first")
        return str(token)

    def credentials(self, args: argparse.Namespace) -> BidderCredentials:
        return bidder_credentials(args, self.data["signing_key"], self.data["signing_cert"],
                                  self.data["encryption_cert"])

    def pending_upload(self, key: str) -> str | None:
        return self.data.get("uploads", {}).get(key)

    def set_pending_upload(self, key: str, upload_id: str | None) -> None:
        uploads = self.data.setdefault("uploads", {})
        if upload_id is None:
            uploads.pop(key, None)
        else:
            uploads[key] = upload_id
        self.save()

    def save(self) -> None:
        """Written whole to a new 0600 file, then renamed: never half a profile, never
        readable by others (it holds a session token)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _replacing(self.path, mode=0o600) as out:
            out.write(json.dumps(self.data, indent=2).encode("utf-8"))


@contextlib.contextmanager
def _replacing(target: Path, mode: int = 0o644) -> Iterator[Any]:
    """A file written beside ``target`` and renamed onto it only when complete."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def bidder_credentials(args: argparse.Namespace, key: str | Path, cert: str | Path,
                       encryption_cert: str | Path) -> BidderCredentials:
    """The key files as credentials; an encrypted signing key is opened here, once, so a
    wrong or missing password is one clear refusal before anything is sent."""
    key_pem = _read_key_file(key, "signing key")
    password = key_password(args, key_pem, "signing key", key)
    try:
        load_signing_key(key_pem, password)
    except (ValueError, TypeError) as error:
        raise Refused(f"cannot open the signing key {key}: "
                      f"{'wrong password' if password else error}") from None
    return BidderCredentials(signing_key_pem=key_pem, signing_cert_pem=_read_key_file(cert, "signing certificate"),
                             encryption_cert_pem=_read_key_file(encryption_cert, "encryption certificate"),
                             signing_key_password=password)


def key_password(args: argparse.Namespace, key_pem: bytes, what: str, path: str | Path) -> bytes | None:
    """The password of an encrypted key file: from --key-password-file, else asked on the
    terminal; None for an unencrypted key."""
    if b"ENCRYPTED" not in key_pem[:4096]:
        return None
    if getattr(args, "key_password_file", None) is not None:
        return _read_small_text(args.key_password_file, "key password file").rstrip("\r\n").encode("utf-8")
    if sys.stdin.isatty():
        return getpass.getpass(f"password of the {what} {path}: ").encode("utf-8")
    raise Refused(f"the {what} {path} is encrypted: give its password with --key-password-file FILE")


def _read_key_file(path: str | Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise Refused(f"cannot read the {what} {path}: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES or b"-----BEGIN" not in data:
        raise Refused(f"the {what} {path} is not a PEM file")
    return data


def _absolute(path: Path | None) -> str | None:
    return str(path.expanduser().resolve()) if path is not None else None


# --- output ------------------------------------------------------------------------------------


class Output:
    """Human-readable lines, or with ``--json`` one JSON object per result."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def result(self, value: dict[str, Any], line: str) -> None:
        text = json.dumps(value, ensure_ascii=False, default=str) if self.as_json else line
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def problem_line(status: int | None, problem: dict[str, Any]) -> str:
    """The platform's RFC 9457 problem as one line: status, title, detail, field errors."""
    title = problem.get("title") or "refused"
    detail = problem.get("detail") or title
    line = f"refused ({status} {title}): {detail}" if status else f"refused: {detail}"
    fields = [f"{error.get('pointer')}: {error.get('detail')}" for error in problem.get("errors") or []
              if isinstance(error, dict)]
    fields = [field for field in fields if field not in detail]  # some details list them already
    if fields:
        line += f" [{'; '.join(fields)}]"
    if status == 401:
        line += " - sign in again with 'bidhall client login'"
    return line.replace("\n", " ")


# --- running a command -------------------------------------------------------------------------


Work = Callable[[argparse.Namespace, Output], Awaitable[int]]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen command; every failure ends as one line on stderr and an exit code."""
    try:
        return asyncio.run(args.client_work(args, Output(args.json)))
    except Refused as error:
        return fail(str(error))
    except BidderError as error:
        return fail(problem_line(error.status, error.problem))
    except OpeningRefused as error:
        return fail(problem_line(error.problem.get("status"), error.problem))
    except ReceiptInvalid as error:
        return fail(str(error), code=1)
    except BidhallError as error:  # refused on this side (a key that is not the recipient's, say)
        return fail(error.detail)
    except httpx.TransportError as error:
        return fail(f"cannot reach the platform: {type(error).__name__}: {error}", code=1)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the bidder, not a traceback
        return fail(f"unexpected error: {type(error).__name__}: {error}", code=1)


@contextlib.asynccontextmanager
async def signed_in(args: argparse.Namespace, *, credentials: bool = False):  # type: ignore[no-untyped-def]
    """The profile and a client acting with its session (and the key files, if asked)."""
    profile = Profile.load(args.profile)
    client = BidderClient(profile.url, http=make_http(profile.url))
    try:
        token = profile.token()
        client.use_session(token, profile.credentials(args) if credentials else None)  # type: ignore[arg-type]
        yield profile, client
    finally:
        await client.aclose()


async def find_lot(client: BidderClient, wanted: str) -> dict[str, Any]:
    """A published lot by its id (read directly) or its code (looked for under the
    published projects)."""
    if wanted.isdigit():
        try:
            return await client.request("GET", f"/lots/{wanted}", authenticated=False)  # type: ignore[no-any-return]
        except BidderError as error:
            if error.status != 404:
                raise
    for project in await _published_projects(client, None):
        for lot in project["lots"]:
            if str(lot["id"]) == wanted or lot["code"] == wanted:
                return {**lot, "project_code": project["code"]}
    raise Refused(f"no published lot {wanted!r} (give a lot id or code from 'bidhall client lots')")


# --- signing in and out ------------------------------------------------------------------------


async def cmd_login(args: argparse.Namespace, out: Output) -> int:
    credentials = bidder_credentials(args, args.key, args.cert, args.encryption_cert)
    if args.encryption_key is not None:
        _read_key_file(args.encryption_key, "encryption key")
    url = args.url.rstrip("/")
    client = BidderClient(url, http=make_http(url))
    try:
        if args.bind_as:
            await client.bind_certificate(args.bind_as, _password(args), credentials)
        await client.sign_in(credentials)
        me = await client.request("GET", "/auth/me")
    finally:
        await client.aclose()
    previous = _previous_profile(args.profile)
    profile = Profile(args.profile, {
        "url": url, "token": client.token, "username": me.get("username"), "party_id": me.get("party_id"),
        "signing_key": _absolute(args.key), "signing_cert": _absolute(args.cert),
        "encryption_cert": _absolute(args.encryption_cert), "encryption_key": _absolute(args.encryption_key),
        "uploads": previous.get("uploads", {}) if previous.get("url") == url else {}})
    profile.save()
    out.result({"url": url, "username": me.get("username"), "profile": str(args.profile)},
               f"signed in to {url} as {me.get('username')}; session kept in {args.profile}")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        return _read_small_text(args.password_file, "password file").rstrip("\r\n")
    return getpass.getpass(f"password of {args.bind_as}: ")


def _read_small_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise Refused(f"cannot read the {what} {path}: {error}") from None


def _previous_profile(path: Path) -> dict[str, Any]:
    try:
        return Profile.load(path).data
    except Refused:
        return {}


async def cmd_logout(args: argparse.Namespace, out: Output) -> int:
    """Revoke the session on the platform, then forget it here (also when the platform
    no longer knows it: an expired or revoked token is signed out already)."""
    profile = Profile.load(args.profile)
    token = profile.token()
    client = BidderClient(profile.url, http=make_http(profile.url))
    note = "session revoked"
    try:
        client.use_session(token, None)  # type: ignore[arg-type]
        await client.request("POST", "/auth/logout")
    except BidderError as error:
        if error.status != 401:
            raise
        note = f"the platform had already ended the session ({error.problem.get('detail')})"
    finally:
        await client.aclose()
    profile.data["token"] = None
    profile.save()
    out.result({"signed_out": True, "note": note}, f"signed out: {note}")
    return 0


async def cmd_whoami(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (profile, client):
        me = await client.request("GET", "/auth/me")
    out.result({"url": profile.url, **me}, f"{me.get('username')} (party {me.get('party_id')}) at {profile.url}")
    return 0


# --- lots and documents ------------------------------------------------------------------------


async def cmd_lots(args: argparse.Namespace, out: Output) -> int:
    profile = Profile.load(args.profile)
    client = BidderClient(profile.url, http=make_http(profile.url))
    try:
        projects = await _published_projects(client, args.project)
    finally:
        await client.aclose()
    for project in projects:
        for lot in project["lots"]:
            out.result({**lot, "project_code": project["code"], "project_title": project["title"]},
                       f"{lot['id']}\t{lot['code']}\t{lot['status']}\tdeadline {lot.get('bid_deadline')}\t"
                       f"{project['title']} / {lot['title']}")
    return 0


async def _published_projects(client: BidderClient, project_id: int | None) -> list[dict[str, Any]]:
    if project_id is not None:
        return [await client.request("GET", f"/projects/{project_id}", authenticated=False)]
    projects, offset = [], 0
    while True:
        page = await client.request("GET", "/projects", params={"offset": offset, "limit": 200}, authenticated=False)
        projects += page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return projects


async def _lot_documents(client: BidderClient, lot: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents of the lot's project that concern this lot (or every lot)."""
    rows = await client.request("GET", f"/projects/{lot['project_id']}/documents")
    return [row for row in rows if row.get("lot_id") in (None, lot["id"])]


async def cmd_documents(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (_, client):
        lot = await find_lot(client, args.lot)
        documents = await _lot_documents(client, lot)
    for document in documents:
        out.result(document, f"{document['id']}\t{document['name']} v{document['version']}\t{document['kind']}\t"
                             f"{document['size']} bytes\tsha256 {document['sha256']}")
    return 0


async def cmd_download(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (_, client):
        lot = await find_lot(client, args.lot)
        document = next((d for d in await _lot_documents(client, lot) if d["id"] == args.document), None)
        if document is None:
            raise Refused(f"lot {lot['code']} has no document {args.document} ('bidhall client documents "
                          f"{args.lot}' lists them)")
        sha256 = await _stream_to_file(client, f"/documents/{args.document}/download", args.out,
                                       expected_sha256=document["sha256"])
    out.result({"document": document, "out": str(args.out), "sha256": sha256},
               f"downloaded {document['name']} v{document['version']} to {args.out} (sha256 {sha256})")
    return 0


async def _stream_to_file(client: BidderClient, url: str, target: Path, *, expected_sha256: str) -> str:
    """Stream a download to ``target``, renamed into place only when whole and hashing to
    ``expected_sha256`` (what the platform published); its SHA-256."""
    hasher = hashlib.sha256()
    headers = {"authorization": f"Bearer {client.token}"}
    async with client.http.stream("GET", url, headers=headers) as response:
        if response.is_error:
            await response.aread()
            raise BidderError(response.status_code, _problem_of(response))
        target.parent.mkdir(parents=True, exist_ok=True)
        with _replacing(target) as file:
            async for chunk in response.aiter_bytes():
                hasher.update(chunk)
                file.write(chunk)
            if hasher.hexdigest() != expected_sha256:
                raise Refused(f"the downloaded file hashes to {hasher.hexdigest()}, not the published "
                              f"{expected_sha256}: nothing was saved")
    return hasher.hexdigest()


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        return dict(response.json())
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:500]}


# --- sealing, submitting, receipts -------------------------------------------------------------


async def cmd_seal(args: argparse.Namespace, out: Output) -> int:
    if not args.plaintext.is_file():
        raise Refused(f"cannot read {args.plaintext}: no such file")
    async with signed_in(args, credentials=True) as (_, client):
        lot = await find_lot(client, args.lot)
        try:
            envelope = await asyncio.to_thread(client.seal_bid, args.plaintext, lot, destination=args.out,
                                               expected_fingerprint=args.expect_fingerprint)
        except ValueError as error:  # the opening certificate is not the one published
            raise Refused(str(error)) from None
    out.result({"lot": lot["code"], "envelope": str(envelope), "size": envelope.stat().st_size},
               f"sealed {args.plaintext} for lot {lot['code']} to {envelope}")
    return 0


async def cmd_submit(args: argparse.Namespace, out: Output) -> int:
    if not args.envelope.is_file():
        raise Refused(f"cannot read {args.envelope}: no such file")
    async with signed_in(args, credentials=True) as (profile, client):
        lot = await find_lot(client, args.lot)
        upload = await _uploaded(profile, client, lot, args.envelope, args.chunk_size, args.chunks_in_flight)
        if args.replaces is not None:
            submitted = await client.replace(args.replaces, lot, upload)
        else:
            submitted = await client.submit(lot, upload)
        profile.set_pending_upload(_upload_key(lot, upload["sha256"]), None)
        _write_json(args.receipt_out, submitted["receipt"])
        problems = await client.verify_receipt(submitted["receipt"])
    bid = submitted["bid"]
    if problems:
        raise ReceiptInvalid(problems)
    out.result({"bid": bid, "receipt": str(args.receipt_out), "receipt_verified": True},
               f"bid {bid['id']} submitted for lot {lot['code']} at {bid['submitted_at']}; receipt saved to "
               f"{args.receipt_out} and verified")
    return 0


def _upload_key(lot: dict[str, Any], sha256: str) -> str:
    return f"{lot['id']}:{sha256}"


async def _uploaded(profile: Profile, client: BidderClient, lot: dict[str, Any], envelope: Path,
                    chunk_size: int, in_flight: int | None) -> dict[str, Any]:
    """The envelope, completely uploaded: an upload of the same file to the same lot left
    by an interrupted run is resumed where the platform stands; else a new one begins.
    The upload's id is kept in the profile before the first byte is sent."""
    sha256 = await asyncio.to_thread(_file_sha256, envelope)
    key = _upload_key(lot, sha256)
    upload_id = profile.pending_upload(key)
    if upload_id is not None and not await _resumable(client, upload_id):
        profile.set_pending_upload(key, None)
        upload_id = None
    if upload_id is None:
        created = await client.request("POST", f"/lots/{lot['id']}/uploads",
                                     json={"size": envelope.stat().st_size, "sha256": sha256})
        upload_id = str(created["id"])
        profile.set_pending_upload(key, upload_id)
    try:
        return await client.resume_upload(upload_id, envelope, chunk_size=chunk_size, in_flight=in_flight)
    except BidderError as error:
        if error.status == 422:  # the platform discarded the upload (not an envelope, wrong hash)
            profile.set_pending_upload(key, None)
        raise


async def _resumable(client: BidderClient, upload_id: str) -> bool:
    try:
        upload = await client.request("GET", f"/uploads/{upload_id}")
    except BidderError as error:
        if error.status == 404:
            return False
        raise
    return upload["status"] in ("receiving", "complete")


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def _write_json(target: Path, value: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _replacing(target) as out:
        out.write(json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8"))


async def cmd_receipt_get(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (_, client):
        receipt = await client.receipt(args.bid)
        _write_json(args.out, receipt)
        problems = await client.verify_receipt(receipt)
    if problems:
        raise ReceiptInvalid(problems)
    out.result({"bid_id": args.bid, "receipt": str(args.out), "receipt_verified": True},
               f"receipt of bid {args.bid} saved to {args.out} and verified")
    return 0


async def cmd_receipt_verify(args: argparse.Namespace, out: Output) -> int:
    receipt = _load_receipt(args.file)
    client = await _receipt_checker(args)
    try:
        problems = await client.verify_receipt(receipt)
    finally:
        await client.aclose()
    if problems:
        raise ReceiptInvalid(problems)
    out.result({"file": str(args.file), "bid_id": receipt.get("bid_id"), "ok": True},
               f"{args.file}: the receipt of bid {receipt.get('bid_id')} verifies (ledger entry, inclusion "
               f"proof, signed tree head, time-stamp)")
    return 0


def _load_receipt(path: Path) -> dict[str, Any]:
    text = _read_small_text(path, "receipt")
    try:
        receipt = json.loads(text)
    except ValueError as error:
        raise Refused(f"{path} is not JSON: {error}") from None
    if not isinstance(receipt, dict):
        raise Refused(f"{path} is not a receipt (a JSON object)")
    return receipt


async def _receipt_checker(args: argparse.Namespace) -> BidderClient:
    """A client that checks receipts with pinned keys, or with those the platform serves."""
    if (args.tsa_cert is None) != (args.platform_key is None):
        raise Refused("give both --tsa-cert and --platform-key to pin the keys, or neither")
    if args.tsa_cert is not None:
        client = BidderClient("http://pinned.invalid", http=make_http("http://pinned.invalid"))
        try:
            tsa = x509.load_pem_x509_certificate(_read_key_file(args.tsa_cert, "TSA certificate"))
        except ValueError as error:
            await client.aclose()
            raise Refused(f"{args.tsa_cert} is not a PEM certificate: {error}") from None
        client.pin_receipt_keys(tsa, _read_key_file(args.platform_key, "platform key").decode("ascii"))
        return client
    profile = Profile.load(args.profile)
    return BidderClient(profile.url, http=make_http(profile.url))


async def cmd_withdraw(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (_, client):
        bid = await client.withdraw(args.bid, args.reason)
    out.result(bid, f"bid {bid['id']} is {bid['status']}")
    return 0


async def cmd_bids(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (_, client):
        lot = await find_lot(client, args.lot)
        bids = await client.request("GET", f"/lots/{lot['id']}/bids")
    for bid in bids:
        out.result(bid, f"{bid['id']}\t{bid['status']}\tsubmitted {bid['submitted_at']}\t"
                        f"envelope {bid['envelope_sha256']}")
    return 0


# --- the opening -------------------------------------------------------------------------------


async def cmd_opening_follow(args: argparse.Namespace, out: Output) -> int:
    async with signed_in(args) as (profile, client):
        lot = await find_lot(client, args.lot)
        seen = 0
        entries = follow_opening(profile.url, client.token, lot["id"], from_seq=args.from_seq)
        try:
            async for entry in entries:
                out.result(entry, _entry_line(entry))
                seen += 1
                if entry.get("type") == LAST_OPENING_EVENT or (args.count is not None and seen >= args.count):
                    break
        finally:
            await entries.aclose()
    return 0


def _entry_line(entry: dict[str, Any]) -> str:
    when = entry.get("recorded_at") or entry.get("at") or entry.get("time") or ""
    actor = entry.get("actor") or {}
    who = actor.get("role") if isinstance(actor, dict) else actor
    return f"{entry.get('seq')}\t{when}\t{entry.get('type')}\t{who or ''}".rstrip()


async def cmd_opening_decrypt(args: argparse.Namespace, out: Output) -> int:
    """Unwrap one's own envelope's content key here and hand over that key only."""
    async with signed_in(args) as (profile, client):
        lot = await find_lot(client, args.lot)
        key_path = args.encryption_key or profile.data.get("encryption_key")
        if not key_path:
            raise Refused("the encryption key is needed: give --encryption-key (or log in with it)")
        key = _opened_encryption_key(args, key_path)
        certificate = _read_key_file(profile.data["encryption_cert"], "encryption certificate")
        bid = await _own_active_bid(client, lot, args.bid)
        envelope = args.envelope.read_bytes() if args.envelope is not None else None
        opening = OpeningClient(profile.url, client.token)
        try:
            handed = await asyncio.to_thread(opening.hand_over_key, lot["id"], bid["id"], key, certificate,
                                             envelope=envelope)
        except EnvelopeError as error:  # unwrapping here failed: nothing was sent
            raise Refused(f"your encryption key does not open the envelope of bid {bid['id']}: "
                          f"{error.detail}") from None
        finally:
            opening.close()
    row = handed.get("row") or {}
    out.result({"bid_id": bid["id"], **handed},
               f"bid {bid['id']}: content key handed over; {row.get('outcome') or 'accepted'}")
    return 0


def _opened_encryption_key(args: argparse.Namespace, path: str | Path) -> Any:
    """The encryption key file's bytes, or the opened key when the file is encrypted (RSA
    or EC; an encrypted SM2 key cannot be opened here)."""
    data = _read_key_file(path, "encryption key")
    password = key_password(args, data, "encryption key", path)
    if password is None:
        return data
    try:
        return serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise Refused(f"cannot open the encryption key {path}: "
                      f"{'wrong password' if isinstance(error, ValueError) else error}") from None


async def _own_active_bid(client: BidderClient, lot: dict[str, Any], bid_id: int | None) -> dict[str, Any]:
    bids = await client.request("GET", f"/lots/{lot['id']}/bids")
    if bid_id is not None:
        chosen = [bid for bid in bids if bid["id"] == bid_id]
    else:
        chosen = [bid for bid in bids if bid["status"] == "submitted"]
    if len(chosen) != 1:
        raise Refused(f"you have no bid {bid_id} for lot {lot['code']}" if bid_id is not None else
                      f"you have {len(chosen)} submitted bids for lot {lot['code']}: name one with --bid")
    return chosen[0]


# --- parsing -----------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", type=Path, default=default_profile(),
                        help=f"the profile file (default {default_profile()})")
    common.add_argument("--json", action="store_true", help="one JSON object per result")
    common.add_argument("--key-password-file", type=Path, default=None,
                        help="the password of an encrypted signing or encryption key (RSA or EC); "
                             "asked on the terminal when the key is encrypted and this is not given")
    return common


def _add(actions: Any, name: str, work: Work, help_text: str, common: argparse.ArgumentParser) -> Any:
    parser = actions.add_parser(name, help=help_text, parents=[common])
    parser.set_defaults(client_work=work)
    return parser


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``bidhall client ...`` (the bidder's side) to ``bidhall``."""
    common = _common()
    client = commands.add_parser("client", help="the bidder's command line: sign in, seal, submit, open")
    actions = client.add_subparsers(dest="client_action", required=True)
    _add_session_parsers(actions, common)
    _add_lot_parsers(actions, common)
    _add_bid_parsers(actions, common)
    _add_opening_parsers(actions, common)
    client.set_defaults(handler=run)


def _add_session_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    login = _add(actions, "login", cmd_login, "sign in with the signing certificate", common)
    login.add_argument("--url", required=True, help="the platform, e.g. https://bidhall.example")
    login.add_argument("--key", type=Path, required=True, help="the signing key (PEM, unencrypted)")
    login.add_argument("--cert", type=Path, required=True, help="the signing certificate (PEM, chain after it)")
    login.add_argument("--encryption-cert", type=Path, required=True,
                       help="the encryption certificate bids are also sealed to")
    login.add_argument("--encryption-key", type=Path, help="its key, to hand over content keys at the opening")
    login.add_argument("--bind-as", metavar="USERNAME",
                       help="first time only: bind the certificate to this account (asks its password)")
    login.add_argument("--password-file", type=Path, help="read the password for --bind-as from this file")
    _add(actions, "logout", cmd_logout, "revoke the session and forget it", common)
    _add(actions, "whoami", cmd_whoami, "the signed-in account", common)


def _add_lot_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    lots = _add(actions, "lots", cmd_lots, "published lots", common)
    lots.add_argument("--project", type=int, help="only this project's lots")
    documents = _add(actions, "documents", cmd_documents, "a lot's tender documents", common)
    documents.add_argument("lot", help="lot id or code")
    download = _add(actions, "download", cmd_download, "download a tender document (recorded)", common)
    download.add_argument("lot", help="lot id or code")
    download.add_argument("document", type=int, help="document id (from 'documents')")
    download.add_argument("--out", type=Path, required=True)


def _add_bid_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    seal = _add(actions, "seal", cmd_seal, "seal a bid file to the lot's opening certificate and yours", common)
    seal.add_argument("lot", help="lot id or code")
    seal.add_argument("plaintext", type=Path)
    seal.add_argument("--out", type=Path, required=True, help="the sealed envelope to write")
    seal.add_argument("--expect-fingerprint", help="the opening certificate's SHA-256 from the tender notice")
    submit = _add(actions, "submit", cmd_submit, "upload a sealed envelope (resumable) and submit it", common)
    submit.add_argument("lot", help="lot id or code")
    submit.add_argument("envelope", type=Path)
    submit.add_argument("--receipt-out", type=Path, required=True, help="where to save the receipt (JSON)")
    submit.add_argument("--replaces", type=int, metavar="BID", help="replace this earlier bid instead")
    submit.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help=argparse.SUPPRESS)
    submit.add_argument("--chunks-in-flight", type=int, choices=range(1, MAX_CHUNKS_IN_FLIGHT + 1),
                        metavar="N", help=f"chunks sent before the answer to the first (1-{MAX_CHUNKS_IN_FLIGHT}; by "
                                          f"default {CHUNKS_IN_FLIGHT} on a short round trip, {CHUNKS_IN_FLIGHT_FAR} "
                                          "on a long one)")
    bids = _add(actions, "bids", cmd_bids, "your bids for a lot", common)
    bids.add_argument("lot", help="lot id or code")
    withdraw = _add(actions, "withdraw", cmd_withdraw, "withdraw a bid before the deadline", common)
    withdraw.add_argument("bid", type=int)
    withdraw.add_argument("--reason", default="withdrawn by the bidder")
    receipt = actions.add_parser("receipt", help="bid receipts")
    receipt_actions = receipt.add_subparsers(dest="receipt_action", required=True)
    verify = _add(receipt_actions, "verify", cmd_receipt_verify, "check a saved receipt locally", common)
    verify.add_argument("file", type=Path)
    verify.add_argument("--tsa-cert", type=Path, help="the platform TSA's certificate (PEM), pinned")
    verify.add_argument("--platform-key", type=Path, help="the platform's tree-head public key (PEM), pinned")
    get = _add(receipt_actions, "get", cmd_receipt_get, "fetch a bid's receipt again and verify it", common)
    get.add_argument("bid", type=int)
    get.add_argument("--out", type=Path, required=True)


def _add_opening_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    opening = actions.add_parser("opening", help="the remote opening")
    opening_actions = opening.add_subparsers(dest="opening_action", required=True)
    follow = _add(opening_actions, "follow", cmd_opening_follow, "print the opening's events as they happen",
                  common)
    follow.add_argument("lot", help="lot id or code")
    follow.add_argument("--from", dest="from_seq", type=int, default=0, help="from this ledger sequence number")
    follow.add_argument("--count", type=int, help="stop after this many events")
    decrypt = _add(opening_actions, "decrypt", cmd_opening_decrypt,
                   "unwrap your envelope's content key here and hand it over", common)
    decrypt.add_argument("lot", help="lot id or code")
    decrypt.add_argument("--bid", type=int, help="which bid (default: your one submitted bid)")
    decrypt.add_argument("--envelope", type=Path, help="your local envelope (default: its head from the platform)")
    decrypt.add_argument("--encryption-key", type=Path, help="the encryption key (default: the one from login)")
