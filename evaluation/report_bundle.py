"""The signed evaluation report bundle that goes back to trading.

Once every member has signed, the report, the members' detached CMS signatures over it
and the dissent travel together as one ZIP:

* ``report.docx`` — the report exactly as signed;
* ``signatures/seat-<n>.p7s`` — each member's DER detached CMS signature over report.docx;
* ``dissent.txt`` — all dissent as plain text (empty when there is none);
* ``manifest.json`` — the SHA-256 of every file, and for each signature its seat, the
  member's name and the signer certificate's subject (RFC 4514).

The bytes are deterministic (fixed entry dates and order, canonical manifest), so the same
signatures always give the same bundle and its hash can be quoted. :func:`verify_bundle`
checks a bundle on its own: the manifest against the files, every signature over
report.docx, the signer subjects against the signatures' certificates, the signatures
against the report's own signature page, and the dissent file against the dissent the
report carries. It checks the cryptography only: whether each certificate was valid and
belonged to the member was decided by the session when the member signed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ca_interop.signatures import SignatureFormatError, verify_detached
from evaluation.report import attached_dissent, dissent_text, signature_page
from evaluation.report_content import ReportDissent

FORMAT = "bidhall-evaluation-report-bundle/1"
REPORT = "report.docx"
DISSENT = "dissent.txt"
MANIFEST = "manifest.json"
SIGNATURE_PATH = re.compile(r"signatures/seat-([1-9][0-9]*)\.p7s")
_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
MAX_BUNDLE_ENTRY = 256 << 20
"""No entry of a bundle is read past this size (a report is a few hundred kilobytes)."""


@dataclass(frozen=True)
class BundleSignature:
    """One member's signature over the report. ``signer_subject`` is the RFC 4514 subject
    of the signing certificate (:func:`signer_subject` reads it from the signature)."""

    seat: int
    member: str
    signer_subject: str
    signature: bytes


@dataclass
class BundleCheck:
    """The outcome of :func:`verify_bundle`: ``ok`` when ``problems`` is empty."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    report_sha256: str | None = None


def signature_path(seat: int) -> str:
    return f"signatures/seat-{seat}.p7s"


def signer_subject(signature: bytes) -> str:
    """The RFC 4514 subject of the certificate that made a detached CMS signature."""
    return verify_detached(b"", signature).signer_cert.subject.rfc4514_string()


def make_bundle(report: bytes, signatures: Sequence[BundleSignature], dissents: Sequence[ReportDissent]) -> bytes:
    """The signed report bundle (ZIP bytes); the same arguments always give the same bytes.

    Raises ``ValueError`` for no signatures or two signatures for one seat: the session
    hands over one signature per signing member.
    """
    if not signatures:
        raise ValueError("a signed report bundle needs at least one signature")
    seats = [s.seat for s in signatures]
    if len(set(seats)) != len(seats):
        raise ValueError(f"two signatures for one seat among seats {sorted(seats)}")
    ordered = sorted(signatures, key=lambda s: s.seat)
    dissent = dissent_text(dissents).encode()
    manifest = {
        "format": FORMAT,
        "report": {"path": REPORT, "sha256": _sha256(report), "size": len(report)},
        "signatures": [{"seat": s.seat, "member": s.member, "signer_subject": s.signer_subject,
                        "path": signature_path(s.seat), "sha256": _sha256(s.signature)} for s in ordered],
        "dissent": {"path": DISSENT, "sha256": _sha256(dissent), "size": len(dissent)},
    }
    files = [(MANIFEST, _canonical(manifest)), (REPORT, report), (DISSENT, dissent),
             *((signature_path(s.seat), s.signature) for s in ordered)]
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return output.getvalue()


def verify_bundle(bundle: bytes) -> BundleCheck:
    """Check a signed report bundle; every problem found is named, none is raised."""
    try:
        files = _entries(bundle)
    except ValueError as error:
        return BundleCheck(ok=False, problems=[str(error)])
    problems: list[str] = []
    manifest = _manifest(files, problems)
    report = files.get(REPORT)
    if manifest is None:
        if report is None:
            problems.append(f"{REPORT} is missing from the bundle")
        return _outcome(problems, report)
    expected = {MANIFEST, manifest["report"]["path"], manifest["dissent"]["path"],
                *(s["path"] for s in manifest["signatures"])}
    problems += [f"{name}: not named in the manifest (added to the bundle)" for name in sorted(files)
                 if name not in expected]
    _check_hash(files, manifest["report"], problems)
    _check_hash(files, manifest["dissent"], problems)
    for entry in manifest["signatures"]:
        if _check_hash(files, entry, problems) and report is not None:
            _check_signature(report, files[entry["path"]], entry, problems)
    if report is not None:
        _check_against_report(report, files.get(DISSENT), manifest, problems)
    return _outcome(problems, report)


# --- checks -------------------------------------------------------------------------------------


def _entries(bundle: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            names = [info.filename for info in archive.infolist()]
            duplicated = sorted({name for name in names if names.count(name) > 1})
            if duplicated:
                raise ValueError(f"the bundle holds more than one entry named {', '.join(duplicated)}")
            oversized = [i.filename for i in archive.infolist() if i.file_size > MAX_BUNDLE_ENTRY]
            if oversized:
                raise ValueError(f"bundle entries too large: {', '.join(oversized)}")
            return {name: archive.read(name) for name in names}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
        raise ValueError(f"the bundle is not a readable ZIP archive ({error})") from error


def _manifest(files: dict[str, bytes], problems: list[str]) -> dict[str, Any] | None:
    if MANIFEST not in files:
        problems.append(f"{MANIFEST} is missing from the bundle")
        return None
    try:
        manifest = json.loads(files[MANIFEST])
    except (ValueError, UnicodeDecodeError) as error:
        problems.append(f"{MANIFEST} is not valid JSON ({error})")
        return None
    shape = _manifest_shape_problem(manifest)
    if shape:
        problems.append(f"{MANIFEST} is not a report bundle manifest: {shape}")
        return None
    return manifest


def _manifest_shape_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return f"format is not {FORMAT}"
    for part, path in (("report", REPORT), ("dissent", DISSENT)):
        if not _file_entry(manifest.get(part)) or manifest[part]["path"] != path:
            return f"{part} must name {path} with its sha256"
    signatures = manifest.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        return "signatures must be a non-empty list"
    for entry in signatures:
        if not (_file_entry(entry) and isinstance(entry.get("seat"), int)
                and isinstance(entry.get("member"), str) and isinstance(entry.get("signer_subject"), str)):
            return "each signature needs seat, member, signer_subject, path and sha256"
        if entry["path"] != signature_path(entry["seat"]):
            return f"the signature of seat {entry['seat']} must be at {signature_path(entry['seat'])}"
    seats = [entry["seat"] for entry in signatures]
    if len(set(seats)) != len(seats):
        return "a seat is listed twice"
    return None


def _file_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("sha256"), str))


def _check_hash(files: dict[str, bytes], entry: dict[str, Any], problems: list[str]) -> bool:
    data = files.get(entry["path"])
    if data is None:
        problems.append(f"{entry['path']} is missing from the bundle")
        return False
    actual = _sha256(data)
    if actual != entry["sha256"]:
        problems.append(f"{entry['path']}: sha256 {actual} differs from the manifest's {entry['sha256']} "
                        "(file or manifest changed)")
        return False
    return True


def _check_signature(report: bytes, signature: bytes, entry: dict[str, Any], problems: list[str]) -> None:
    where = f"{entry['path']} (seat {entry['seat']} {entry['member']})"
    try:
        check = verify_detached(report, signature)
    except SignatureFormatError as error:
        problems.append(f"{where}: not a usable detached CMS signature ({error})")
        return
    if not check.valid:
        problems.append(f"{where}: does not verify over {REPORT} ({check.reason})")
        return
    subject = check.signer_cert.subject.rfc4514_string()
    if subject != entry["signer_subject"]:
        problems.append(f"{where}: signed by {subject!r}, the manifest says {entry['signer_subject']!r}")


def _check_against_report(report: bytes, dissent: bytes | None, manifest: dict[str, Any],
                          problems: list[str]) -> None:
    """The manifest's signers against the report's signature page, and dissent.txt against
    the dissent attached to the report (the part of the bundle that is signed)."""
    try:
        page = dict(signature_page(report))
        attached = attached_dissent(report)
    except Exception as error:  # noqa: BLE001 - any unreadable report is a named problem, not a crash
        problems.append(f"{REPORT}: cannot be read as an evaluation report ({type(error).__name__}: {error})")
        return
    listed = {entry["seat"]: entry["member"] for entry in manifest["signatures"]}
    for seat, name in sorted(page.items()):
        if seat not in listed:
            problems.append(f"seat {seat} {name} is on the report's signature page but has no signature")
        elif listed[seat] != name:
            problems.append(f"seat {seat}: the manifest names {listed[seat]!r}, the report's signature page "
                            f"{name!r}")
    problems += [f"seat {seat} {listed[seat]} signed but is not on the report's signature page"
                 for seat in sorted(listed) if seat not in page]
    if dissent is not None and dissent.decode("utf-8", "replace") != attached:
        problems.append(f"{DISSENT} differs from the dissent attached to {REPORT}")


def _outcome(problems: list[str], report: bytes | None) -> BundleCheck:
    return BundleCheck(ok=not problems, problems=problems,
                       report_sha256=_sha256(report) if report is not None else None)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
