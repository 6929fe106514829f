"""Checking a project archive offline: ``bidhall archive verify ZIP``.

No database and no network: only the zip, the standard library, ``cryptography`` (the
platform key's Ed25519 signature) and the pure Merkle functions of the ledger. What is
checked, each failure named:

1. every file the manifest lists: present, its size and SHA-256; no file unlisted;
2. the signed tree head: its signature by the public key it names, that key being the
   archive's platform key (and the one given with ``--platform-key``, if any);
3. every ledger entry: its leaf hash, its sequence number, its inclusion proof up to the
   head's root;
4. the contents listing: the SHA-256 of the manifest's file list (with the project and the
   format) is the one recorded in the ``archive:<project>`` entry, itself proven in 3;
5. each file's hash (or JSON) appears in the ledger entry that recorded it (a bid
   envelope in its submission entry, a document in its upload entry, a notice in its
   publication entry, the award notice and contract in the award's entries; a price
   competition, its registrations and quotes in the competition's entries, its deal
   confirmation in the award's first entry).

The archive format (``bidhall-archive/1``) is laid out in ``trading.archive``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ca_interop.platform_keys import verify_signature
from supervision.ledger.merkle import verify_inclusion

FORMAT = "bidhall-archive/1"
MANIFEST = "manifest.json"
ENTRIES = "ledger/entries.json"
HEAD = "ledger/head.json"
PUBLIC_KEY = "ledger/platform-key.pem"
CONTENTS_LISTED = "trading.archive_contents_listed"
CHUNK = 1 << 20


def plain_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: for the strings, integers and objects (with ASCII
    keys) these documents hold, this is exactly RFC 8785, the ledger's canonical form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def contents_digest(contents: dict[str, Any]) -> str:
    """SHA-256 of the listed contents: format, project and file list (what the ledger binds)."""
    return hashlib.sha256(plain_json({key: contents[key] for key in ("format", "project", "files")})).hexdigest()


def head_message(head: dict[str, Any]) -> bytes:
    """The bytes a tree head signature covers (``supervision.ledger.heads.signed_fields``)."""
    return plain_json({key: head[key] for key in ("tree_size", "root_hash", "timestamp", "key_id")})


@dataclass
class Report:
    archive: str
    failures: list[dict[str, str]] = field(default_factory=list)
    files_checked: int = 0
    entries_checked: int = 0
    attestations_checked: int = 0
    head: dict[str, Any] = field(default_factory=dict)
    project: dict[str, Any] = field(default_factory=dict)

    def fail(self, item: str, reason: str) -> None:
        self.failures.append({"item": item, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.failures, "archive": self.archive, "project": self.project,
                "files_checked": self.files_checked, "entries_checked": self.entries_checked,
                "attestations_checked": self.attestations_checked, "head": self.head, "failures": self.failures}


def verify_archive(path: Path, *, platform_key_pem: str | None = None) -> dict[str, Any]:
    """The JSON report; ``ok`` is true only if everything verifies."""
    report = Report(archive=str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            _verify(archive, report, platform_key_pem)
    except (zipfile.BadZipFile, OSError) as error:
        report.fail("archive", f"not a readable zip file: {error}")
    return report.to_dict()


def _verify(archive: zipfile.ZipFile, report: Report, pinned_key: str | None) -> None:
    manifest = _json_member(archive, MANIFEST, report)
    if not isinstance(manifest, dict):
        return
    if manifest.get("format") != FORMAT:
        report.fail(MANIFEST, f"format {manifest.get('format')!r} is not {FORMAT}")
        return
    report.project = manifest.get("project", {})
    files = {item["path"]: item for item in manifest.get("files", [])}
    _check_files(archive, files, report)
    head = _check_head(archive, report, pinned_key)
    entries = _check_entries(archive, head, report) if head is not None else {}
    _check_contents(manifest, entries, report)
    _check_attestations(files, entries, archive, report)


# --- 1. files --------------------------------------------------------------------------------


def _check_files(archive: zipfile.ZipFile, files: dict[str, dict[str, Any]], report: Report) -> None:
    names = set(archive.namelist())
    for name in sorted(names - set(files) - {MANIFEST, ENTRIES, HEAD, PUBLIC_KEY}):
        report.fail(name, "the file is not listed in the manifest")
    for name, item in files.items():
        if name not in names:
            report.fail(name, "listed in the manifest but missing from the archive")
            continue
        digest, size = hashlib.sha256(), 0
        try:
            with archive.open(name) as member:
                while chunk := member.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except zipfile.BadZipFile as error:
            report.fail(name, f"unreadable (its bytes were changed inside the zip): {error}")
            continue
        report.files_checked += 1
        if digest.hexdigest() != item.get("sha256") or size != item.get("size"):
            report.fail(name, f"SHA-256 {digest.hexdigest()} ({size} bytes) differs from the manifest's "
                              f"{item.get('sha256')} ({item.get('size')} bytes)")


# --- 2. the signed head ----------------------------------------------------------------------------


def _check_head(archive: zipfile.ZipFile, report: Report, pinned_key: str | None) -> dict[str, Any] | None:
    head = _json_member(archive, HEAD, report)
    key_pem = _member(archive, PUBLIC_KEY, report)
    if not isinstance(head, dict) or key_pem is None:
        return None
    report.head = {key: head.get(key) for key in ("tree_size", "root_hash", "timestamp", "key_id")}
    try:
        key_text = key_pem.decode("ascii")
        der = serialization.load_pem_public_key(key_pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        signature = base64.b64decode(head["signature"], validate=True)
        signed = verify_signature(key_text, head_message(head), signature)
    except (ValueError, KeyError, TypeError) as error:
        report.fail(HEAD, f"the head or the platform key is malformed: {error}")
        return None
    if head.get("public_key", "").strip() != key_text.strip():
        report.fail(HEAD, f"the head names another public key than {PUBLIC_KEY}")
    if hashlib.sha256(der).hexdigest() != head.get("key_id"):
        report.fail(HEAD, "the head's key_id is not the SHA-256 of the platform key")
    if pinned_key is not None and pinned_key.strip() != key_text.strip():
        report.fail(PUBLIC_KEY, "the archive's platform key is not the key given to check against")
    if not signed:
        report.fail(HEAD, "the tree head's signature does not verify with the platform key")
        return None
    return head


# --- 3. ledger entries --------------------------------------------------------------------------


def _check_entries(archive: zipfile.ZipFile, head: dict[str, Any], report: Report) -> dict[int, dict[str, Any]]:
    """The entries that verify, by sequence number, parsed."""
    document = _json_member(archive, ENTRIES, report)
    if not isinstance(document, dict):
        return {}
    size, root = head["tree_size"], bytes.fromhex(head["root_hash"])
    if document.get("tree_size") != size:
        report.fail(ENTRIES, f"the proofs are for a tree of {document.get('tree_size')} entries, the head for {size}")
    proven: dict[int, dict[str, Any]] = {}
    for item in document.get("entries", []):
        seq = item.get("seq")
        label = f"ledger entry {seq}"
        try:
            leaf = base64.b64decode(item["leaf"], validate=True)
            leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
            path = [bytes.fromhex(node) for node in item["audit_path"]]
            entry = json.loads(leaf)
        except (KeyError, ValueError, TypeError) as error:
            report.fail(label, f"malformed: {error}")
            continue
        report.entries_checked += 1
        if leaf_hash.hex() != item.get("leaf_hash"):
            report.fail(label, "its bytes do not hash to its leaf hash (the entry was changed)")
        elif entry.get("seq") != seq:
            report.fail(label, f"it holds the bytes of entry {entry.get('seq')}")
        elif not verify_inclusion(leaf_hash, seq, size, path, root):
            report.fail(label, f"its inclusion proof does not lead to the signed root of size {size}")
        else:
            proven[seq] = entry
    return proven


# --- 4. the contents listing ------------------------------------------------------------------------


def _check_contents(manifest: dict[str, Any], entries: dict[int, dict[str, Any]], report: Report) -> None:
    seq = manifest.get("contents_entry_seq")
    entry = entries.get(seq) if isinstance(seq, int) else None
    if entry is None:
        report.fail(MANIFEST, f"the contents listing entry {seq} is not a proven entry of the archive")
        return
    expected_stream = f"archive:{manifest.get('project', {}).get('id')}"
    digest = contents_digest(manifest)
    if entry.get("type") != CONTENTS_LISTED or entry.get("stream") != expected_stream:
        report.fail(MANIFEST, f"entry {seq} is not the contents listing of {expected_stream}")
    elif entry["payload"].get("contents_sha256") != digest:
        report.fail(MANIFEST, f"the manifest's contents hash to {digest}, not to the "
                              f"{entry['payload'].get('contents_sha256')} the ledger recorded (entry {seq})")


# --- 5. attestations ------------------------------------------------------------------------------------


def _check_attestations(files: dict[str, dict[str, Any]], entries: dict[int, dict[str, Any]],
                        archive: zipfile.ZipFile, report: Report) -> None:
    present = set(archive.namelist())
    for name, item in files.items():
        if name not in present:
            continue  # already reported as missing
        for attestation in item.get("attested_by", []):
            seq = attestation.get("seq")
            entry = entries.get(seq)
            report.attestations_checked += 1
            if entry is None:
                report.fail(name, f"the ledger entry {seq} that records it is not a proven entry of the archive")
            elif attestation.get("match") == "json":
                expected = _pointer(entry, attestation.get("pointer", ""))
                if _json_member(archive, name, report) != expected:
                    report.fail(name, f"its content differs from what ledger entry {seq} recorded")
            elif item.get("sha256") not in set(_strings(entry.get("payload"))):
                report.fail(name, f"its SHA-256 does not appear in ledger entry {seq} ({entry.get('type')})")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _pointer(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer (RFC 6901 without escapes: keys and list indices)."""
    for part in [p for p in pointer.split("/") if p]:
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


# --- reading members -------------------------------------------------------------------------------------


def _member(archive: zipfile.ZipFile, name: str, report: Report) -> bytes | None:
    try:
        return archive.read(name)
    except KeyError:
        report.fail(name, "missing from the archive")
    except zipfile.BadZipFile as error:
        report.fail(name, f"unreadable: {error}")
    return None


def _json_member(archive: zipfile.ZipFile, name: str, report: Report) -> Any:
    data = _member(archive, name, report)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        report.fail(name, f"not valid JSON: {error}")
        return None
