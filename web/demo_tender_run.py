"""The demo's construction tender, from the tender notice to the published opening record.

The agency publishes an open tender for a Minjiang river lot (custodian fallback on, two of
three custodians needed). Five bidders, each with its own certificates from one of the
three demo CAs, work as they would from their own machines: through :class:`BidderClient`
and :class:`OpeningClient` over HTTP to a server started for the demo. They download the
documents, write and seal their bids, upload and submit them and verify their receipts.

The law puts twenty days between the documents and the deadline, so the demo then moves
its clock past the deadline (``core.clock.travel``): the entries of the opening carry
those later times. Centre staff open; four bidders hand over their content keys; the fifth
does not, and two custodians hand over their shares so its bid is opened with the lot's
opening key; the bidders confirm the record by signature and the host publishes it.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time as wallclock
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ca_interop.demo_pki_set import refresh_demo_crls
from core.clock import rfc3339, travel, utcnow
from core.settings import Settings
from trading import documents, projects, publication
from trading import opening as opening_service
from trading.bid_package import OpeningSheet, make_bid_package
from trading.notice_schemas import PublishTender
from trading.opening_schemas import OpeningStart, WindowClose
from trading.schemas import LotCreate, ProjectCreate
from trading.states import Procedure, Segment
from web.bidder_client import BidderClient, BidderCredentials
from web.bidder_client_opening import OpeningClient
from web.demo import DEMO_PASSWORD, demo_actor
from web.demo_tenders import (
    DEMO_TENDER_DOCUMENTS,
    custodian_certificates,
    demo_timetable,
    one_chunk,
)
from web.runtime import Runtime

PROJECT_TITLE = "Minjiang River South Bank Flood Wall, Phase II"

# username, demo PKI key, CA algorithm, bid price (yuan), duration (days)
DEMO_BIDDERS = (
    ("bidder", "minjiang", "rsa", "33650000.00", 540),
    ("bidder2", "wuyi", "ecdsa", "34120000.00", 510),
    ("bidder3", "haixia", "rsa", "32980000.00", 560),
    ("bidder4", "rongcheng", "ecdsa", "35200000.00", 500),
    ("bidder5", "zhangzhou", "rsa", "33990000.00", 530),
)
KEYLESS_BIDDER = "bidder5"  # lost its USB key: the custodians open its bid


@dataclass
class DemoBidder:
    username: str
    credentials: BidderCredentials
    encryption_key_pem: bytes
    price: str
    duration_days: int


def _bidder(pki: Path, username: str, key: str, algorithm: str, price: str, days: int) -> DemoBidder:
    stem = pki / "bidders" / f"{key}-{algorithm}"
    missing = [p for p in (Path(f"{stem}-sign.pem"), Path(f"{stem}-enc.key")) if not p.exists()]
    if missing:
        raise RuntimeError(f"the demo PKI in {pki} lacks {missing[0].name}: it predates the five demo bidders; "
                           "delete it (or the whole var/ folder) and run `bidhall seed` again")
    credentials = BidderCredentials(signing_key_pem=Path(f"{stem}-sign.key").read_bytes(),
                                    signing_cert_pem=Path(f"{stem}-sign.pem").read_bytes(),
                                    encryption_cert_pem=Path(f"{stem}-enc.pem").read_bytes())
    return DemoBidder(username, credentials, Path(f"{stem}-enc.key").read_bytes(), price, days)


# --- the server the bidders talk to -------------------------------------------------------


@contextmanager
def demo_server(settings: Settings) -> Iterator[str]:
    """Serve the app on a free local port in a thread of this process (so it shares the
    demo's clock); yields its base URL."""
    import uvicorn

    from web.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="demo-server", daemon=True)
    thread.start()
    deadline = wallclock.monotonic() + 30
    while not server.started:
        if wallclock.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the demo server did not start")
        wallclock.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- the story ----------------------------------------------------------------------------


def demo_bidders(pki: Path) -> list[DemoBidder]:
    """The five demo bidders with their credentials from the demo PKI."""
    return [_bidder(pki, *spec) for spec in DEMO_BIDDERS]


async def run_tender_demo(runtime: Runtime, base_url: str, out: Path) -> dict[str, Any]:
    """The tender up to the published opening record, with the bidders talking to the demo
    server at ``base_url`` (see :func:`demo_server`)."""
    pki = runtime.settings.resolved_pki_dir
    bidders = demo_bidders(pki)
    project_id, lot_id = await _publish_tender(runtime, pki)
    lot = httpx.get(f"{base_url}/projects/{project_id}", timeout=30).json()["lots"][0]
    with travel(by=timedelta(minutes=15)):  # the documents are issued ten minutes after the notice
        bids = [await _bid(base_url, bidder, lot, project_id, out) for bidder in bidders]
    deadline = datetime.fromisoformat(lot["bid_deadline"].replace("Z", "+00:00"))
    with travel(deadline + timedelta(minutes=1)):
        opening = await _open(runtime, base_url, lot, bidders, bids, pki, out)
    return {"project": project_id, "lot": lot_id, "lot_code": lot["code"],
            "bids": [{"bidder": b["bidder"], "bid": b["bid_id"], "receipt": b["receipt_file"]} for b in bids],
            "opening": opening}



async def _publish_tender(runtime: Runtime, pki: Path) -> tuple[int, int]:
    async with runtime.database.reader() as session:
        agency, tenderer = await demo_actor(session, "agency"), await demo_actor(session, "tenderer")
    lot_data = LotCreate(
        title="Flood wall, pumping station and drainage works", budget=Decimal("36500000.00"),
        ceiling_price=Decimal("35500000.00"), evaluation_method="comprehensive_scoring",
        evaluation_parameters={"price_weight": "40", "factors": {"technical": "50", "credit": "10"}},
        bid_bond_amount=Decimal("500000.00"), timetable=demo_timetable(utcnow(), days_to_deadline=21),
        custodian_fallback=True, custodian_certificates=custodian_certificates(pki), custodian_threshold=2)
    async with runtime.database.transaction() as session:
        project = await projects.create_project(session, agency, ProjectCreate(
            title=PROJECT_TITLE, segment=Segment.CONSTRUCTION, procedure=Procedure.OPEN_TENDER,
            region_code="350100", industry="water_conservancy", tenderer_party_id=tenderer.party_id))
        lot = await projects.add_lot(session, agency, project.id, lot_data)  # type: ignore[arg-type]
        await documents.upload_document(
            session, agency, project.id, name="tender-documents.txt", kind="tender_documents",  # type: ignore[arg-type]
            lot_id=None, media_type="text/plain", content=one_chunk(DEMO_TENDER_DOCUMENTS), blobs=runtime.blobs,
            max_bytes=len(DEMO_TENDER_DOCUMENTS))
    # The documents are issued ten minutes after the notice: the demo publishes now and
    # lets its bidders download once the window opens.
    async with runtime.database.transaction() as session:
        await publication.publish_tender(session, agency, project.id, PublishTender())  # type: ignore[arg-type]
    return project.id, lot.id  # type: ignore[return-value]


async def _bid(base_url: str, bidder: DemoBidder, lot: dict[str, Any], project_id: int, out: Path) -> dict[str, Any]:
    """One bidder's side: sign in by certificate, write, seal, upload and submit its bid,
    then check the receipt."""
    folder = out / "bidders" / bidder.username
    folder.mkdir(parents=True, exist_ok=True)
    client = BidderClient(base_url)
    try:
        await client.bind_certificate(bidder.username, DEMO_PASSWORD, bidder.credentials)
        await client.sign_in(bidder.credentials)
        await _download_documents(client, project_id, folder)
        sheet = OpeningSheet(lot_code=lot["code"], total_price=Decimal(bidder.price),
                             items={"duration_days": bidder.duration_days, "quality": "qualified", "validity_days": 90,
                                    "project_manager": f"Manager of {bidder.username}"})
        package = make_bid_package(folder / "bid.zip", sheet,
                                   {"technical-proposal.docx": _technical_proposal(bidder.username)})
        envelope = await asyncio.to_thread(client.seal_bid, package, lot)
        upload = await client.upload(lot["id"], envelope)
        bid = (await client.submit(lot, upload))["bid"]
        await client.record_bond(lot["id"], "guarantee", f"BG-{bidder.username.upper()}-2026", "500000.00")
        receipt = await client.receipt(bid["id"])
        problems = await client.verify_receipt(receipt)
        if problems:
            raise RuntimeError(f"the receipt of {bidder.username} does not verify: {problems}")
        receipt_file = folder / "receipt.json"
        receipt_file.write_text(json.dumps(receipt, indent=2, ensure_ascii=False))
        return {"bidder": bidder.username, "bid_id": bid["id"], "envelope": envelope, "token": client.token,
                "receipt_file": str(receipt_file.relative_to(out))}
    finally:
        await client.aclose()


# Two of the five bidders had their proposals written by the same hand: the regulators'
# collusion rule on document metadata is to find them (the supervision part of the demo).
PROPOSAL_AUTHORS = {"bidder4": "Chen Ming", "bidder5": "Chen Ming"}


def _technical_proposal(username: str) -> bytes:
    """The bidder's technical proposal as a .docx, with the author its word processor wrote."""
    from docx import Document

    document = Document()
    document.add_heading(f"Technical proposal of {username}", level=1)
    for section in ("Construction organisation", "Schedule", "Quality and safety"):
        document.add_heading(section, level=2)
        document.add_paragraph(f"{section} of the flood wall works as planned by {username}.")
    author = PROPOSAL_AUTHORS.get(username, f"Proposal team of {username}")
    document.core_properties.author = author
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def _download_documents(client: BidderClient, project_id: int, folder: Path) -> None:
    """What the bidder obtains (and the platform records that it did)."""
    auth = {"authorization": f"Bearer {client.token}"}
    listed = await client.http.get(f"/projects/{project_id}/documents", headers=auth)
    for document in listed.raise_for_status().json():
        content = await client.http.get(f"/documents/{document['id']}/download", headers=auth)
        (folder / document["name"]).write_bytes(content.raise_for_status().content)


async def _open(runtime: Runtime, base_url: str, lot: dict[str, Any], bidders: list[DemoBidder],
                bids: list[dict[str, Any]], pki: Path, out: Path) -> dict[str, Any]:
    async with runtime.database.reader() as session:
        staff = await demo_actor(session, "staff")
    refresh_demo_crls(pki)  # the CAs publish CRLs on schedule; the demo's clock has moved weeks
    async with runtime.database.transaction() as session:
        await opening_service.start_opening(session, staff, lot["id"], OpeningStart(window_minutes=30))
    for bidder, bid in zip(bidders, bids):
        bid["token"] = await _sign_in(base_url, bidder)  # at the opening, with the certificate
        if bidder.username == KEYLESS_BIDDER:
            continue
        await asyncio.to_thread(_hand_over_key, base_url, lot["id"], bidder, bid)
    with travel(by=timedelta(minutes=31)):  # the window ends; the keyless bid is still sealed
        async with runtime.database.transaction() as session:
            await opening_service.close_decryption_window(session, staff, lot["id"], WindowClose(use_fallback=True))
        await asyncio.to_thread(_custodians_open, base_url, lot["id"], pki)
        for bidder, bid in zip(bidders, bids):
            await asyncio.to_thread(_confirm, base_url, lot["id"], bidder, bid)
        async with runtime.database.transaction() as session:
            published = await opening_service.publish_opening_record(session, staff, lot["id"], blobs=runtime.blobs)
        published_at = rfc3339(utcnow())
    with closing(OpeningClient(base_url, bids[0]["token"])) as reader:
        record = reader.record(lot["id"])
    (out / "opening-record.json").write_bytes(record)
    return {"id": published.id, "status": published.status, "record": "opening-record.json",
            "published_at": published_at}


async def _sign_in(base_url: str, bidder: DemoBidder) -> str:
    client = BidderClient(base_url)
    try:
        await client.sign_in(bidder.credentials)
        return client.token
    finally:
        await client.aclose()


def _hand_over_key(base_url: str, lot_id: int, bidder: DemoBidder, bid: dict[str, Any]) -> None:
    key = load_pem_private_key(bidder.encryption_key_pem, None)
    with closing(OpeningClient(base_url, bid["token"])) as client:
        client.hand_over_key(lot_id, bid["bid_id"], key, bidder.credentials.encryption_cert_pem,
                             envelope=bid["envelope"])


CUSTODIAN_USERS = ("staff", "agency")  # who holds the first two custodian keys in the demo


def _custodians_open(base_url: str, lot_id: int, pki: Path) -> None:
    """Two of the three custodians (a centre staff member and the agency) each decrypt
    their share on their own machine and hand it over."""
    for username, cert_file in zip(CUSTODIAN_USERS, sorted((pki / "custodians").glob("*-enc.pem"))):
        login = httpx.post(f"{base_url}/auth/login", json={"username": username, "password": DEMO_PASSWORD},
                           timeout=30)
        with closing(OpeningClient(base_url, login.raise_for_status().json()["token"])) as client:
            key = load_pem_private_key(cert_file.with_suffix(".key").read_bytes(), None)
            client.hand_over_share(lot_id, key, cert_file.read_bytes())


def _confirm(base_url: str, lot_id: int, bidder: DemoBidder, bid: dict[str, Any]) -> None:
    key = load_pem_private_key(bidder.credentials.signing_key_pem, None)
    with closing(OpeningClient(base_url, bid["token"])) as client:
        client.confirm_record(lot_id, key, bidder.credentials.signing_cert_pem)
