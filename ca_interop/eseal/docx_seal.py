"""Sealing a Word (.docx) file: the seal picture placed in the document, then the whole
file signed.

What is signed is the exact bytes of the saved .docx (a ZIP). The SES_Signature is kept
beside the file (it is not embedded in it), and any change to the file afterwards -
even re-saving it unchanged in Word, which rewrites the ZIP - breaks the hash check. This
is a detached seal signature over a file, not an in-document signature like OFD's or
PDF's, and the picture is only a visible sign of the seal: it proves nothing by itself.

The picture is added inline, right-aligned, in a new last paragraph, at the seal's size in
millimetres (python-docx cannot anchor floating pictures over text).
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ca_interop.eseal.common import ESealError, hash_document, ia5
from ca_interop.eseal.making import Stamper, plan_signing, sign_planned


def seal_docx(
    docx_in_path: str | os.PathLike,
    seal_der: bytes,
    key: Any,
    cert: Any,
    out_docx_path: str | os.PathLike,
    out_signature_path: str | os.PathLike | None = None,
    *,
    time: dt.datetime | None = None,
    property_info: str | None = None,
    timestamp_token: Stamper | None = None,
) -> bytes:
    """Place the seal's picture at the end of the document, save it to ``out_docx_path``
    and return the DER SES_Signature (v4) over the saved file's bytes (also written to
    ``out_signature_path`` when given). ``property_info`` defaults to
    "docx:<file name>;size=<bytes>" (ASCII only: a non-ASCII file name is left out).

    Everything that could refuse the signature (seal intact, signer bound, time inside
    the seal's validity) is checked before the document is touched; nothing is written
    unless the signature was made.
    """
    plan_check = plan_signing(seal_der, key, cert, time=time, property_info=property_info or "")
    seal = plan_check.seal
    if seal.picture_type.upper() not in ("PNG", "JPG", "JPEG", "GIF", "BMP"):
        raise ESealError(f"the seal picture is {seal.picture_type!r}; a .docx can show PNG, JPEG, GIF or BMP")
    try:
        import docx
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm
    except ImportError as error:  # pragma: no cover - python-docx is an optional dependency
        raise ESealError("sealing .docx files needs python-docx (pip install python-docx)") from error

    try:
        document = docx.Document(str(docx_in_path))
    except Exception as error:  # noqa: BLE001 - python-docx raises many kinds on a bad file
        raise ESealError(f"{docx_in_path} is not a readable .docx file: {error}") from None
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    shape = paragraph.add_run().add_picture(io.BytesIO(seal.picture), width=Mm(seal.width_mm),
                                            height=Mm(seal.height_mm))
    doc_pr = shape._inline.docPr  # noqa: SLF001 - python-docx has no API for the alt text
    doc_pr.set("name", f"eseal-{seal.es_id}")
    doc_pr.set("descr", f"电子印章 {seal.name} ({seal.es_id})")
    buffer = io.BytesIO()
    document.save(buffer)
    sealed = buffer.getvalue()

    out_docx = Path(out_docx_path)
    if property_info is None:
        name = out_docx.name if out_docx.name.isascii() else "document.docx"
        property_info = f"docx:{name};size={len(sealed)}"
    plan = replace(plan_check, property_info=ia5(property_info, "propertyInfo", allow_empty=True))
    signature = sign_planned(plan, hash_document(sealed), timestamp_token=timestamp_token)
    out_docx.write_bytes(sealed)
    if out_signature_path is not None:
        Path(out_signature_path).write_bytes(signature)
    return signature
