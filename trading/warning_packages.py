"""What the collusion warning rules read from an opened bid package: the files' hashes, the
.docx metadata (author, last modified by, company) and the .docx paragraphs.

Packages are read from the blob store only after the opening (before it, only the sealed
envelope exists). Only the parts needed are parsed, with python-docx's own XML classes:
opening each document whole with ``docx.Document`` costs fifty times more (styles,
numbering, every part), which a day of packages cannot pay. Anything unreadable (not a
ZIP, not a .docx) simply gives nothing to compare: its problem is in the opening record.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from docx.oxml import parse_xml
from lxml import etree

SHEET = "opening-sheet.json"


@dataclass(frozen=True)
class PackageFacts:
    """What the rules read from one opened bid package (cached by its SHA-256)."""

    files: tuple[tuple[str, str, int], ...]  # (name, sha256, size) of each document
    metadata: tuple[tuple[str, str, str], ...]  # (file, field, value) of each .docx
    paragraphs: tuple[tuple[str, str], ...]  # (file, normalised paragraph text)


@lru_cache(maxsize=8192)
def package_facts(path: Path) -> PackageFacts:
    """Hashes, .docx metadata (author, last modified by, company) and paragraphs of a package.

    Cached by path: blobs are named by their SHA-256, so a path's content never changes,
    and the three package rules of one run read each package once."""
    files, metadata, paragraphs = [], [], []
    if not zipfile.is_zipfile(path):  # an unreadable package (its problem is in the opening record)
        return PackageFacts((), (), ())
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.filename == SHEET:
                continue
            data = archive.read(info)
            files.append((info.filename, hashlib.sha256(data).hexdigest(), len(data)))
            if info.filename.lower().endswith(".docx"):
                found, texts = _read_docx(data)
                metadata.extend((info.filename, name, value) for name, value in found)
                paragraphs.extend((info.filename, text) for text in texts)
    return PackageFacts(tuple(files), tuple(metadata), tuple(paragraphs))


_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_PART_KINDS = {_RELATIONSHIPS + "officeDocument": "document",
               "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties": "core",
               _RELATIONSHIPS + "extended-properties": "app"}


def _read_docx(data: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    """The metadata fields and the paragraphs (whitespace folded) of one .docx.

    Only the three parts needed are parsed, with python-docx's own XML classes (core
    properties, paragraphs): opening the whole document with ``docx.Document`` costs
    fifty times more (styles, numbering, every part), which a day of packages cannot pay.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            parts = _package_parts(inner)
            core = parse_xml(inner.read(parts["core"])) if "core" in parts else None
            body = parse_xml(inner.read(parts.get("document", "word/document.xml")))
            app = ElementTree.fromstring(inner.read(parts["app"])) if "app" in parts else None
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError, ValueError, etree.XMLSyntaxError):
        return [], []  # not a readable .docx: nothing to compare
    found = []
    if core is not None:
        found += [("author", core.author_text or ""), ("last_modified_by", core.lastModifiedBy_text or "")]
    if app is not None:  # the company is an extended property (docProps/app.xml)
        found.append(("company", next((el.text or "" for el in app.iter() if el.tag.endswith("}Company")), "")))
    texts = [re.sub(r"\s+", " ", p.text).strip() for p in body.xpath(".//w:p")]
    return [(name, value.strip()) for name, value in found], [text for text in texts if text]


def _package_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Where the main document and the properties are, from the package relationships."""
    root = ElementTree.fromstring(archive.read("_rels/.rels"))
    return {_PART_KINDS[rel.get("Type", "")]: (rel.get("Target") or "").lstrip("/")
            for rel in root if rel.get("Type") in _PART_KINDS}


