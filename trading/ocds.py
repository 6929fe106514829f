"""A project as Open Contracting (OCDS 1.1.5) releases, one per public step.

Each release says what one step made public, dated when it did, so a reader can follow the
process and the merging rules (``trading.ocds_record``) rebuild its present state:

| step (row) | tag | what it carries |
|---|---|---|
| tender notice | ``tender`` | the tender, its lots (lot extension), value or reserve price, periods |
| change notice | ``tenderAmendment`` | an amendment (the notice), lots' statuses then |
| opening of a lot | ``tenderUpdate`` | that lot's bids: statistics and details (bid extension) |
| failed-tender notice | ``tenderUpdate`` | the lot unsuccessful |
| candidate publicity | ``award`` | a pending award of the lot; its bids marked valid or disqualified |
| result (winner confirmed) | ``awardUpdate`` | the award active: supplier, value, related bid |
| contract signed by both | ``contract`` | the contract, active, with its signing date |

Bids appear only from their lot's opening on (see ``trading.ocds_facts``). Identifiers:
``ocid`` is :data:`OCID_PREFIX` + ``-`` + the project code (the prefix a deployment
registers with the Open Contracting Partnership); a release id is the ocid plus the step
and its row id, so rebuilding gives the same ids. Parties are identified by their unified
social credit code (GB 32100-2015) under :data:`ORG_ID_SCHEME`: org-id.guide lists only
``CN-SAIC``, the enterprise register, which gives the code to businesses but not to public
institutions (the code's ``12`` prefix, like most tenderers); so the scheme names the code
itself, and enterprises carry ``CN-SAIC`` as an additional identifier. Amounts are yuan.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import rfc3339
from identities.models import Party
from trading.models import Lot, Notice
from trading.ocds_facts import LotFacts, ProjectFacts
from trading.states import LotStatus, NoticeKind, Procedure, Segment

OCID_PREFIX = "ocds-bh0001"
ORG_ID_SCHEME = "CN-USCC"
ENTERPRISE_SCHEME = "CN-SAIC"
CURRENCY = "CNY"
HIGHEST_PRICE = "highest_price"  # the sales' method: the reserve price is a minimum

PROCUREMENT_METHODS = {
    Procedure.OPEN_TENDER: "open", Procedure.TENDER: "open", Procedure.AUCTION: "open",
    Procedure.LISTING: "open", Procedure.LISTING_MULTI_ROUND: "open", Procedure.LISTING_SEALED_QUOTE: "open",
    Procedure.LISTING_DUTCH: "open", Procedure.INVITED_TENDER: "selective",
    Procedure.REQUEST_FOR_QUOTATION: "selective", Procedure.COMPETITIVE_NEGOTIATION: "limited",
    Procedure.COMPETITIVE_CONSULTATION: "limited", Procedure.SINGLE_SOURCE: "direct",
}
LOT_STATUSES = {
    LotStatus.DRAFT: "planning", LotStatus.BIDDING: "active", LotStatus.SUSPENDED: "active",
    LotStatus.OPENING: "active", LotStatus.EVALUATING: "active", LotStatus.PUBLICITY: "active",
    LotStatus.AWARDED: "complete", LotStatus.CONTRACTED: "complete", LotStatus.FAILED: "unsuccessful",
    LotStatus.CANCELLED: "cancelled",
}
AWARD_CRITERIA = {"comprehensive_scoring": "ratedCriteria"}  # every other method ranks on price alone
# Bid statuses (bid extension) at the opening and once evaluated.
AT_OPENING = {"opened": "pending", "rejected": "pending", "revoked": "disqualified",
              "withdrawn_at_opening": "withdrawn"}
EVALUATED = {"opened": "valid", "rejected": "disqualified", "revoked": "disqualified",
             "withdrawn_at_opening": "withdrawn"}


def ocid_of(project_code: str) -> str:
    return f"{OCID_PREFIX}-{project_code}"


def releases_of(facts: ProjectFacts) -> list[dict[str, Any]]:
    """Every release of the project, in the order its steps happened (empty for a draft)."""
    if not facts.published:
        return []
    steps = [*_notice_steps(facts), *_lot_steps(facts)]
    steps.sort(key=lambda step: (step[0], step[1]))
    builder = _Builder(facts)
    return [builder.release(step_id, moment, tag, body) for moment, step_id, tag, body in steps]


# --- the steps --------------------------------------------------------------------------------

Step = tuple[datetime, str, str, Any]


def _notice_steps(facts: ProjectFacts) -> list[Step]:
    found: list[Step] = []
    if not any(notice.kind == NoticeKind.TENDER for notice in facts.notices):
        found.append((facts.announced_at, "tender", "tender", None))
    for notice in facts.notices:
        if notice.kind == NoticeKind.TENDER:
            found.append((notice.published_at, f"tender-{notice.id}", "tender", notice))
        elif notice.kind == NoticeKind.CHANGE:
            found.append((notice.published_at, f"change-{notice.id}", "tenderAmendment", notice))
        elif notice.kind == NoticeKind.FAILED and notice.lot_id is not None:
            found.append((notice.published_at, f"failed-{notice.id}", "tenderUpdate", notice))
    return found


def _lot_steps(facts: ProjectFacts) -> list[Step]:
    found: list[Step] = []
    announced = facts.announced_at
    for lot in facts.lots:
        if lot.opened:  # never before the tender it answers, whatever the lot's own dates say
            found.append((max(_opened_at(lot), announced), f"opening-{lot.lot.id}", "tenderUpdate", lot))
        award = lot.award
        if award is None:
            continue
        if award.publicity_start is not None:
            found.append((award.publicity_start, f"award-{lot.lot.id}-candidates", "award", lot))
        if award.confirmed_at is not None:
            found.append((award.confirmed_at, f"award-{lot.lot.id}-result", "awardUpdate", lot))
        if award.contracted_at is not None:
            found.append((award.contracted_at, f"contract-{lot.lot.id}", "contract", lot))
    return found + _closing_steps(facts)


def _closing_steps(facts: ProjectFacts) -> list[Step]:
    """A lot failed or cancelled with no notice saying so here still ends in its releases."""
    told = {(notice.lot_id, LotStatus.FAILED) for notice in facts.notices if notice.kind == NoticeKind.FAILED}
    told |= {(notice.lot_id, LotStatus.CANCELLED) for notice in facts.notices if _cancels_lot(notice)}
    return [(max(lot.lot.updated_at, facts.announced_at), f"lot-{lot.lot.id}-{lot.lot.status}", "tenderUpdate", lot.lot)
            for lot in facts.lots
            if lot.lot.status in (LotStatus.FAILED, LotStatus.CANCELLED) and (lot.lot.id, lot.lot.status) not in told]


def _cancels_lot(notice: Notice) -> bool:
    return notice.kind == NoticeKind.CHANGE and notice.details.get("change") == "lot_cancelled"


def _opened_at(lot: LotFacts) -> datetime:
    if lot.opening is not None and lot.opening.published_at is not None:
        return lot.opening.published_at
    moments = [lot.lot.opening_at, lot.lot.bid_deadline, lot.lot.updated_at]
    return next(moment for moment in moments if moment is not None)


# --- building ----------------------------------------------------------------------------------


class _Builder:
    """Builds the releases in order, keeping each lot's status as the steps so far left it."""

    def __init__(self, facts: ProjectFacts) -> None:
        self.facts = facts
        self.ocid = ocid_of(facts.project.code)
        self.lot_status = {lot.lot.id: "planning" for lot in facts.lots}

    def release(self, step_id: str, moment: datetime, tag: str, subject: Any) -> dict[str, Any]:
        sections = self._sections(tag, subject)  # first: it moves the lots' statuses on
        return {"ocid": self.ocid, "id": f"{self.ocid}-{step_id}", "date": rfc3339(moment), "tag": [tag],
                "initiationType": "tender", "parties": self._parties(moment),
                "buyer": self._reference(self.facts.parties[self.facts.project.tenderer_party_id]),
                **sections,
                "tender": {"id": self.facts.project.code, "status": self._tender_status(), **sections.get("tender", {})}}

    def _sections(self, tag: str, subject: Any) -> dict[str, Any]:
        if tag == "tender":
            return self._tender(subject)
        if tag == "tenderAmendment":
            return self._amendment(subject)
        if tag == "tenderUpdate" and isinstance(subject, Notice):
            return self._failed(subject)
        if tag == "tenderUpdate" and isinstance(subject, Lot):
            return self._closed(subject)
        if tag == "tenderUpdate":
            return self._opening(subject)
        if tag == "award":
            return self._candidates(subject)
        if tag == "awardUpdate":
            return self._result(subject)
        return self._contract(subject)

    # tender and its changes
    def _tender(self, notice: Notice | None) -> dict[str, Any]:
        project = self.facts.project
        announced = {item.get("code") for item in notice.details.get("lots", [])} if notice is not None else set()
        lots = [facts.lot for facts in self.facts.lots if not announced or facts.lot.code in announced]
        for lot in lots:
            self.lot_status[lot.id] = "active" if lot.status != LotStatus.CANCELLED else "cancelled"  # type: ignore[index]
        tender: dict[str, Any] = {
            "title": project.title, "description": notice.title if notice is not None else project.title,
            "procuringEntity": self._reference(self._procuring_entity()),
            "procurementMethod": PROCUREMENT_METHODS.get(Procedure(project.procedure), "open"),
            "procurementMethodDetails": project.procedure,
            "submissionMethod": ["electronicSubmission"],
            "lots": [self._lot(lot) for lot in lots],
        }
        if project.segment == Segment.CONSTRUCTION:
            tender["mainProcurementCategory"] = "works"
        tender.update(_money_and_criteria(lots))
        tender.update(_periods(lots))
        return {"tender": tender}

    def _amendment(self, notice: Notice) -> dict[str, Any]:
        if _cancels_lot(notice):
            self.lot_status[notice.lot_id] = "cancelled"  # type: ignore[index]
        amendment = {"id": str(notice.id), "date": rfc3339(notice.published_at), "description": notice.title,
                     "rationale": notice.body[:2000]}
        tender: dict[str, Any] = {"amendments": [amendment], "lots": self._lot_statuses(notice.lot_id)}
        tender.update(_periods([lot.lot for lot in self.facts.lots]))
        return {"tender": tender}

    def _failed(self, notice: Notice) -> dict[str, Any]:
        self.lot_status[notice.lot_id] = "unsuccessful"  # type: ignore[index]
        return {"tender": {"lots": self._lot_statuses(notice.lot_id)}}

    def _closed(self, lot: Lot) -> dict[str, Any]:
        self.lot_status[lot.id] = LOT_STATUSES[LotStatus(lot.status)]  # type: ignore[index]
        return {"tender": {"lots": self._lot_statuses(lot.id)}}

    # bids
    def _opening(self, lot: LotFacts) -> dict[str, Any]:
        details = [self._bid(lot, bid, AT_OPENING) for bid in lot.bids]
        return {"tender": {"lots": self._lot_statuses(lot.lot.id)},
                "bids": {"statistics": _statistics(lot), "details": details}}

    def _bid(self, lot: LotFacts, bid: Any, statuses: dict[str, str]) -> dict[str, Any]:
        detail: dict[str, Any] = {"id": f"bid-{bid.id}", "date": rfc3339(bid.submitted_at),
                                  "status": statuses.get(bid.status, "pending"),
                                  "tenderers": [self._reference(self.facts.parties[bid.party_id])],
                                  "relatedLots": [lot.lot.code]}
        row = lot.rows.get(bid.id)
        if row is not None and row.total_price is not None:
            detail["value"] = _value(row.total_price)
        return detail

    # awards and contracts
    def _candidates(self, lot: LotFacts) -> dict[str, Any]:
        names = [f"{candidate.rank}. {self.facts.parties[candidate.party_id].name} ({candidate.price} {CURRENCY})"
                 for candidate in lot.candidates]
        award = {"id": _award_id(lot.lot), "title": f"Award of lot {lot.lot.code}", "status": "pending",
                 "date": rfc3339(lot.award.publicity_start), "relatedLots": [lot.lot.code],  # type: ignore[union-attr,arg-type]
                 "description": "Candidates in publicity: " + "; ".join(names)}
        bids = [{"id": f"bid-{bid.id}", "status": EVALUATED.get(bid.status, "pending")} for bid in lot.bids]
        return {"awards": [award], "bids": {"details": bids}, "tender": {"lots": self._lot_statuses(lot.lot.id)}}

    def _result(self, lot: LotFacts) -> dict[str, Any]:
        award_row = lot.award
        self.lot_status[lot.lot.id] = "complete"  # type: ignore[index]
        award: dict[str, Any] = {"id": _award_id(lot.lot), "status": "active",
                                 "date": rfc3339(award_row.confirmed_at),  # type: ignore[union-attr,arg-type]
                                 "relatedLots": [lot.lot.code]}
        if award_row.winner_party_id is not None:  # type: ignore[union-attr]
            award["suppliers"] = [self._reference(self.facts.parties[award_row.winner_party_id])]  # type: ignore[union-attr]
        if award_row.winner_bid_id is not None:  # type: ignore[union-attr]
            award["relatedBid"] = f"bid-{award_row.winner_bid_id}"  # type: ignore[union-attr]
        if award_row.price is not None:  # type: ignore[union-attr]
            award["value"] = _value(award_row.price)  # type: ignore[union-attr]
        return {"awards": [award], "tender": {"lots": self._lot_statuses(lot.lot.id)}}

    def _contract(self, lot: LotFacts) -> dict[str, Any]:
        award_row = lot.award
        contract: dict[str, Any] = {"id": f"{lot.lot.code}-contract", "awardID": _award_id(lot.lot),
                                    "title": f"Contract for lot {lot.lot.code}", "status": "active",
                                    "dateSigned": rfc3339(award_row.contracted_at)}  # type: ignore[union-attr,arg-type]
        if award_row.price is not None:  # type: ignore[union-attr]
            contract["value"] = _value(award_row.price)  # type: ignore[union-attr]
        return {"contracts": [contract]}

    # parties and statuses
    def _parties(self, moment: datetime) -> list[dict[str, Any]]:
        """The organisations this release names, each with every role it has had so far
        (a party's ``roles`` is replaced, not merged, when releases are compiled)."""
        roles: dict[int, list[str]] = {}
        project = self.facts.project
        roles.setdefault(project.tenderer_party_id, []).append("buyer")
        roles.setdefault(self._procuring_entity().id, []).append("procuringEntity")  # type: ignore[arg-type]
        for lot in self.facts.lots:
            for bid in lot.bids if moment >= _opened_at(lot) else []:
                _add(roles.setdefault(bid.party_id, []), "tenderer")
            award = lot.award
            if award is not None and award.confirmed_at is not None and award.winner_party_id is not None \
                    and moment >= award.confirmed_at:
                _add(roles.setdefault(award.winner_party_id, []), "supplier")
        return [self._organization(self.facts.parties[party_id], party_roles)
                for party_id, party_roles in sorted(roles.items())]

    def _procuring_entity(self) -> Party:
        project = self.facts.project
        return self.facts.parties[project.agency_party_id or project.tenderer_party_id]

    def _tender_status(self) -> str:
        statuses = set(self.lot_status.values()) - {"planning"}
        if not statuses or statuses & {"active"}:
            return "active"
        if statuses == {"cancelled"}:
            return "cancelled"
        if statuses <= {"unsuccessful", "cancelled"}:
            return "unsuccessful"
        return "complete"

    def _lot_statuses(self, lot_id: int | None) -> list[dict[str, Any]]:
        return [{"id": facts.lot.code, "status": self.lot_status[facts.lot.id]}  # type: ignore[index]
                for facts in self.facts.lots if lot_id is None or facts.lot.id == lot_id]

    def _lot(self, lot: Lot) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": lot.code, "title": lot.title, "status": self.lot_status[lot.id]}  # type: ignore[index]
        if lot.budget is not None and lot.evaluation_method != HIGHEST_PRICE:
            entry["value"] = _value(lot.budget)
        return entry

    def _organization(self, party: Party, roles: list[str]) -> dict[str, Any]:
        organization: dict[str, Any] = {
            "id": _party_id(party), "name": party.name, "roles": roles,
            "identifier": {"scheme": ORG_ID_SCHEME, "id": party.uscc, "legalName": party.name}}
        if party.uscc.startswith("9"):
            organization["additionalIdentifiers"] = [{"scheme": ENTERPRISE_SCHEME, "id": party.uscc}]
        if party.region_code:
            organization["address"] = {"region": party.region_code, "countryName": "China"}
        return organization

    def _reference(self, party: Party) -> dict[str, Any]:
        return {"id": _party_id(party), "name": party.name}


def _add(roles: list[str], role: str) -> None:
    if role not in roles:
        roles.append(role)


def _party_id(party: Party) -> str:
    return f"{ORG_ID_SCHEME}-{party.uscc}"


def _award_id(lot: Lot) -> str:
    return f"{lot.code}-award"


def _value(amount: Decimal) -> dict[str, Any]:
    return {"amount": amount, "currency": CURRENCY}


def _money_and_criteria(lots: list[Lot]) -> dict[str, Any]:
    """A purchase states its estimated value; a sale (highest price wins: land, state
    property) states its reserve price as ``minValue``."""
    found: dict[str, Any] = {}
    sales = [lot for lot in lots if lot.evaluation_method == HIGHEST_PRICE]
    purchases = [lot for lot in lots if lot.evaluation_method != HIGHEST_PRICE]
    if purchases and all(lot.budget is not None for lot in purchases):
        found["value"] = _value(sum((lot.budget for lot in purchases), Decimal("0.00")))  # type: ignore[misc]
    if sales and all(lot.budget is not None for lot in sales):
        found["minValue"] = _value(sum((lot.budget for lot in sales), Decimal("0.00")))  # type: ignore[misc]
    methods = sorted({lot.evaluation_method for lot in lots})
    if len(methods) == 1:
        found["awardCriteria"] = AWARD_CRITERIA.get(methods[0], "priceOnly")
    if methods:
        found["awardCriteriaDetails"] = "; ".join(f"{lot.code}: {lot.evaluation_method}" for lot in lots)
    return found


def _periods(lots: list[Lot]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    starts = [lot.documents_from for lot in lots if lot.documents_from is not None]
    deadlines = [lot.bid_deadline for lot in lots if lot.bid_deadline is not None]
    questions = [lot.clarification_until for lot in lots if lot.clarification_until is not None]
    if starts or deadlines:
        found["tenderPeriod"] = {key: rfc3339(value) for key, value in
                                 (("startDate", min(starts, default=None)), ("endDate", max(deadlines, default=None)))
                                 if value is not None}
    if questions:
        found["enquiryPeriod"] = {"endDate": rfc3339(max(questions))}
    return found


def _statistics(lot: LotFacts) -> list[dict[str, Any]]:
    code = lot.lot.code
    counted = {"bids": len(lot.bids), "electronicBids": len(lot.bids),
               "bidders": len({bid.party_id for bid in lot.bids})}
    return [{"id": f"{code}-{measure}", "measure": measure, "value": value, "relatedLot": code}
            for measure, value in counted.items()]
