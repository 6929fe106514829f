"""The demo's evaluation session and award, after the published opening record.

Centre staff open the lot's session at the centre with a secondary venue in Xiamen. The
five drawn experts (given accounts and signing certificates by ``web.demo_committee``)
each take part through an :class:`ExpertClient` of their own, a websocket to the demo
server, as they would from their own machines: they sign in with their certificates at
their venue, the staff on duty there confirm who they are (the staff member who opened the
session at the main venue, a second one who checks in at Xiamen), they declare no conflict
and elect a chair.

In the preliminary review the chair asks the lowest bidder, in writing, whether its price
covers the pumping station's equipment; the bidder answers through its own client and
signs the answer. The majority fails one bid on its project manager's qualification (one
member disagrees, with reasons). In the detailed scoring one expert's technical score is
far from the others'; the platform flags it and the expert keeps it with a reason. One
member records a dissent from the results, every member signs the report, and the
session hands the ranked candidates to trading.

The agency then publishes the candidates; once the publicity and the objection window are
over (the demo moves its clock) the tenderer confirms the first candidate and the
platform seals the award notice. Everything goes over HTTP and the live channel, as the
real participants' clients do.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ca_interop.demo_pki_set import refresh_demo_crls
from core.clock import parse_rfc3339, travel
from evaluation.events import CLARIFICATION_ASKED, SCORE_FLAGGED
from evaluation.report_bundle import SIGNATURE_PATH, verify_bundle
from web.bidder_client import BidderClient
from web.demo import DEMO_PASSWORD
from web.demo_committee import DemoExpert, enrol_drawn_experts
from web.demo_tender_run import DemoBidder, demo_bidders
from web.expert_client import ExpertClient, expect_ok
from web.runtime import Runtime

MAIN_VENUE = "Fuzhou Public Resource Trading Center, evaluation room 2"
SECONDARY_VENUE = "Xiamen secondary venue, room 1"
MAIN_VENUE_REGION, SECONDARY_VENUE_REGION = "350100", "350200"  # the experts of each venue come from its city
SECONDARY_VENUE_STAFF = "staff-xiamen"  # the demo user on duty at the Xiamen venue
CHAIR_SEAT = 1
OBJECTIVE_FACTORS = ["credit"]  # a credit rating is read off the record, not judged

CLARIFIED_BIDDER = "bidder3"  # the lowest price
QUESTION = ("Your price is the lowest of the lot. Please confirm that it covers the pumping station's four "
            "submersible pumps and their control cabinets as specified in section 5.3 of the tender documents.")
ANSWER = ("We confirm that our total price includes the four submersible pumps (1,200 kW each) and their control "
          "cabinets as specified in section 5.3; see items 5.3.1 to 5.3.4 of our priced bill of quantities.")

REJECTED_BIDDER = "bidder5"
REJECTION_CRITERION = "qualification"
REJECTION_REASON = ("the proposed project manager's registered constructor certificate is for municipal works, "
                    "not water conservancy and hydropower as the tender documents require")
REVIEW_MINORITY_SEAT = 2  # accepts the certificate; the majority decides

# Technical points (of 50) the committee gives each proposal, and the credit rating (of 10)
# every member reads the same from the credit record.
TECHNICAL = {"bidder": 42, "bidder2": 44, "bidder3": 40, "bidder4": 38}
CREDIT = {"bidder": "9", "bidder2": "8", "bidder3": "9", "bidder4": "7"}
SEAT_LEANING = {1: 0, 2: 1, 3: -1, 4: 2, 5: -2}
ABNORMAL_SEAT, ABNORMAL_BIDDER, ABNORMAL_SCORE = 5, "bidder2", 20
ABNORMAL_REASON = ("the construction organisation plan has no flood-season plan for the pumping station works, "
                   "which section 4.2 of the tender documents requires; I keep my score")

DISSENT_SEAT, DISSENT_BIDDER = 4, "bidder2"
DISSENT_TEXT = ("The technical score confirmed by seat 5 lowers Wuyi Road & Bridge's place in the ranking; I find "
                "its schedule for the pumping station adequate and do not agree with its rank.")


@dataclass
class Member:
    """One expert at the session: their certificate, their live connection, their seat."""

    expert: DemoExpert
    client: ExpertClient
    member_id: int
    seat: int

    @property
    def venue(self) -> str:
        """Where the expert was drawn to sit (their invitation told them)."""
        return self.expert.venue or MAIN_VENUE


# --- the evaluation session -----------------------------------------------------------------


async def run_evaluation_demo(runtime: Runtime, base_url: str, tender: dict[str, Any], draw_id: int,
                              out: Path) -> dict[str, Any]:
    pki = runtime.settings.resolved_pki_dir
    refresh_demo_crls(pki)  # the certificates are checked on the demo's moved clock
    async with runtime.database.transaction() as session:
        experts = await enrol_drawn_experts(session, draw_id, pki)
    staff_token = await login(base_url, "staff")
    opened = await call(base_url, staff_token, "POST", f"/lots/{tender['lot']}/evaluation", json={
        "draw_id": draw_id, "main_venue": MAIN_VENUE, "secondary_venues": [SECONDARY_VENUE],
        "objective_factors": OBJECTIVE_FACTORS})
    session_id = int(opened["session_id"])
    bids = {bid["bidder"]: int(bid["bid"]) for bid in tender["bids"]}
    async with contextlib.AsyncExitStack() as stack:
        venue_staff = {
            MAIN_VENUE: await stack.enter_async_context(ExpertClient(base_url, staff_token, session_id)),
            SECONDARY_VENUE: await stack.enter_async_context(
                ExpertClient(base_url, await login(base_url, SECONDARY_VENUE_STAFF), session_id))}
        expect_ok(await venue_staff[SECONDARY_VENUE].staff_check_in(SECONDARY_VENUE))  # the opener has the main one
        members = [await _join(stack, base_url, expert, session_id) for expert in experts]
        await _form_committee(venue_staff, members)
        chair = await _elect_chair(members)
        clarification = await _clarify(stack, base_url, chair, bids, demo_bidders(pki))
        await _review(members, bids)
        flagged = await _score(members, bids)
        dissent = await _answer_results(members, bids)
        for member in members:
            expect_ok(await member.client.sign_report(member.expert.signing.key, member.expert.signing.cert))
    return await _session_record(base_url, session_id, bids, out, clarification=clarification, dissent=dissent,
                                 flagged=flagged)


async def _join(stack: contextlib.AsyncExitStack, base_url: str, expert: DemoExpert, session_id: int) -> Member:
    """The expert signs in to the platform with their password and follows the session."""
    client = ExpertClient(base_url, await login(base_url, expert.username), session_id)
    await stack.enter_async_context(client)
    view = await client.session()
    seat = next(m["seat"] for m in view["members"] if m["member_id"] == view["me"])
    return Member(expert=expert, client=client, member_id=int(view["me"]), seat=int(seat))


async def _form_committee(venue_staff: dict[str, ExpertClient], members: list[Member]) -> None:
    """Sign-in by certificate at each venue, identity confirmed by the staff on duty there,
    no conflict declared."""
    for member in members:
        expect_ok(await member.client.sign_in(member.venue, member.expert.signing.key, member.expert.signing.cert))
    for member in members:
        expect_ok(await venue_staff[member.venue].confirm_identity(member.member_id))
    for member in members:
        expect_ok(await member.client.declare())


async def _elect_chair(members: list[Member]) -> Member:
    chair = next(member for member in members if member.seat == CHAIR_SEAT)
    for member in members:
        expect_ok(await member.client.vote_chair(chair.member_id))
    return chair


async def _clarify(stack: contextlib.AsyncExitStack, base_url: str, chair: Member, bids: dict[str, int],
                   bidders: list[DemoBidder]) -> dict[str, Any]:
    """The chair asks; the bidder, following the session from its office, answers signed."""
    bidder = next(b for b in bidders if b.username == CLARIFIED_BIDDER)
    client = ExpertClient(base_url, await _bidder_token(base_url, bidder), chair.client.session_id)
    await stack.enter_async_context(client)
    expect_ok(await chair.client.ask_clarification(bids[CLARIFIED_BIDDER], QUESTION, 30))
    asked = await client.wait_for(CLARIFICATION_ASKED)
    clarification_id = int(asked["payload"]["clarification_id"])
    key = load_pem_private_key(bidder.credentials.signing_key_pem, None)
    cert = x509.load_pem_x509_certificate(bidder.credentials.signing_cert_pem)
    expect_ok(await client.answer_clarification(clarification_id, ANSWER, key, cert))
    return {"id": clarification_id, "bid": bids[CLARIFIED_BIDDER], "bidder": CLARIFIED_BIDDER,
            "question": QUESTION, "answer": ANSWER}


async def _review(members: list[Member], bids: dict[str, int]) -> None:
    criteria = (await members[0].client.session())["settings"]["review_criteria"]
    for member in members:
        for bidder, bid_id in bids.items():
            expect_ok(await member.client.review(bid_id, _marks(criteria, member.seat, bidder)))


def _marks(criteria: list[str], seat: int, bidder: str) -> dict[str, dict[str, Any]]:
    marks: dict[str, dict[str, Any]] = {criterion: {"passed": True, "reason": None} for criterion in criteria}
    if bidder == REJECTED_BIDDER and seat != REVIEW_MINORITY_SEAT:
        marks[REJECTION_CRITERION] = {"passed": False, "reason": REJECTION_REASON}
    return marks


async def _score(members: list[Member], bids: dict[str, int]) -> dict[str, Any]:
    """Everyone scores the bids that passed; the flagged expert keeps the score with a reason."""
    for member in members:
        for bidder in TECHNICAL:
            expect_ok(await member.client.score(bids[bidder], _scores(member.seat, bidder)))
    flagged = next(member for member in members if member.seat == ABNORMAL_SEAT)
    entry = await flagged.client.wait_for(
        lambda e: e["type"] == SCORE_FLAGGED and e["payload"].get("member_id") == flagged.member_id)
    expect_ok(await flagged.client.confirm_score(bids[ABNORMAL_BIDDER], "technical", ABNORMAL_REASON))
    return {"seat": ABNORMAL_SEAT, "bid": bids[ABNORMAL_BIDDER], "factor": "technical",
            "value": str(entry["payload"]["value"]), "flag": entry["payload"]["reason"],
            "confirmation": ABNORMAL_REASON}


def _scores(seat: int, bidder: str) -> dict[str, str]:
    technical = ABNORMAL_SCORE if (seat, bidder) == (ABNORMAL_SEAT, ABNORMAL_BIDDER) else \
        TECHNICAL[bidder] + SEAT_LEANING[seat]
    return {"technical": str(technical), "credit": CREDIT[bidder]}


async def _answer_results(members: list[Member], bids: dict[str, int]) -> dict[str, Any]:
    for member in members:
        if member.seat == DISSENT_SEAT:
            expect_ok(await member.client.dissent(DISSENT_TEXT, bids[DISSENT_BIDDER]))
        else:
            expect_ok(await member.client.accept_results())
    return {"seat": DISSENT_SEAT, "bid": bids[DISSENT_BIDDER], "text": DISSENT_TEXT}


async def _session_record(base_url: str, session_id: int, bids: dict[str, int], out: Path,
                          **story: Any) -> dict[str, Any]:
    """The finished session as the regulator sees it; the agency downloads the report and
    the signed bundle into ``out/evaluation``."""
    view = await call(base_url, await login(base_url, "regulator"), "GET", f"/evaluations/{session_id}")
    agency = await login(base_url, "agency")
    report = await download(base_url, agency, f"/evaluations/{session_id}/report")
    bundle = await download(base_url, agency, f"/evaluations/{session_id}/signed-report")
    folder = out / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.docx").write_bytes(report)
    (folder / "signed-report.zip").write_bytes(bundle)
    check = verify_bundle(bundle)
    names = {bid_id: bidder for bidder, bid_id in bids.items()}
    candidates = sorted((bid for bid in view["bids"] if bid["candidate"]), key=lambda bid: bid["rank"])
    return {
        "id": session_id, "stage": view["stage"], "finished_at": view["finished_at"],
        "chair_seat": view["chair_seat"], "venues": view["venues"],
        "members": [{"seat": m["seat"], "name": m["name"], "venue": m["venue"]} for m in view["members"]],
        "failed_review": [{"bid": bid["bid_id"], "bidder": names.get(bid["bid_id"]),
                           "reasons": bid["rejection_reasons"]} for bid in view["bids"] if not bid["review_passed"]],
        "candidates": [{"rank": bid["rank"], "bid": bid["bid_id"], "bidder": names.get(bid["bid_id"]),
                        "price": bid["corrected_price"], "score": bid["total_score"]} for bid in candidates],
        "report_sha256": view["report_sha256"], "report": "evaluation/report.docx",
        "signed_report_sha256": hashlib.sha256(bundle).hexdigest(), "signed_report": "evaluation/signed-report.zip",
        "signatures": _signature_count(bundle),
        "bundle_check": {"ok": check.ok, "problems": list(check.problems)},
        "replay_command": f"bidhall replay evaluation:{session_id} --check", **story,
    }


def _signature_count(bundle: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return sum(1 for name in archive.namelist() if SIGNATURE_PATH.fullmatch(name))


# --- the award ----------------------------------------------------------------------------------


async def run_award_demo(runtime: Runtime, base_url: str, lot_id: int, out: Path) -> dict[str, Any]:
    """Publicity by the agency, then (after it and the objection window) the winner."""
    publicity = await call(base_url, await login(base_url, "agency"), "POST", f"/lots/{lot_id}/award/publicity")
    ends = [parse_rfc3339(publicity[key]) for key in ("publicity_until", "objection_until") if publicity[key]]
    with travel(max(ends) + timedelta(minutes=1)):
        refresh_demo_crls(runtime.settings.resolved_pki_dir)
        award = await _confirm_winner(base_url, lot_id, out)
    return {"publicity_notice_id": publicity["publicity_notice_id"],
            "publicity_from": publicity["publicity_start"], "publicity_until": publicity["publicity_until"],
            "objection_until": publicity["objection_until"], **award}


async def _confirm_winner(base_url: str, lot_id: int, out: Path) -> dict[str, Any]:
    """The tenderer confirms the first candidate; the sealed notice is downloaded and checked."""
    tenderer = await login(base_url, "tenderer")
    award = await call(base_url, tenderer, "GET", f"/lots/{lot_id}/award")
    first = min(award["candidates"], key=lambda candidate: candidate["rank"])
    awarded = await call(base_url, tenderer, "POST", f"/lots/{lot_id}/award/winner", json={"bid_id": first["bid_id"]})
    folder = out / "award"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "award-notice.docx").write_bytes(await download(base_url, tenderer, f"/lots/{lot_id}/award/notice"))
    (folder / "award-notice.docx.ses").write_bytes(
        await download(base_url, tenderer, f"/lots/{lot_id}/award/notice/signature"))
    seal = await call(base_url, tenderer, "GET", f"/lots/{lot_id}/award/notice/verification")
    return {"status": awarded["status"], "confirmed_at": awarded["confirmed_at"],
            "candidates": [{"rank": c["rank"], "bid": c["bid_id"], "name": c["party_name"], "price": c["price"],
                            "score": c["score"]} for c in sorted(award["candidates"], key=lambda c: c["rank"])],
            "winner": {"bid": awarded["winner_bid_id"], "name": first["party_name"], "price": awarded["price"]},
            "notice": "award/award-notice.docx", "notice_sha256": awarded["award_notice_sha256"],
            "seal_signature": "award/award-notice.docx.ses", "seal_verification": {
                key: seal[key] for key in ("indication", "subindication", "detail")}}


# --- HTTP as the participants' clients use it ---------------------------------------------------


async def login(base_url: str, username: str) -> str:
    """A demo user's bearer token (password sign-in)."""
    body = await call(base_url, None, "POST", "/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    return str(body["token"])


async def _bidder_token(base_url: str, bidder: DemoBidder) -> str:
    """A bidder signs in with its certificate, as at the opening."""
    client = BidderClient(base_url)
    try:
        await client.sign_in(bidder.credentials)
        return client.token
    finally:
        await client.aclose()


async def http_request(base_url: str, token: str | None, method: str, path: str, **options: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers=headers) as http:
        response = await http.request(method, path, **options)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path} was refused ({response.status_code}): {response.text}")
    return response


async def call(base_url: str, token: str | None, method: str, path: str, **options: Any) -> dict[str, Any]:
    return dict((await http_request(base_url, token, method, path, **options)).json())


async def download(base_url: str, token: str, path: str) -> bytes:
    return (await http_request(base_url, token, "GET", path)).content
