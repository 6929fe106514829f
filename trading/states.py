"""Segments, procedures, and the statuses of projects and lots with their allowed moves.

A lot carries the lifecycle (bids, opening and evaluation are per lot); the project's
status summarises its lots (draft until the first notice, archived when every lot is).
"""

from __future__ import annotations

from enum import StrEnum


class Segment(StrEnum):
    CONSTRUCTION = "construction"
    GOVERNMENT_PROCUREMENT = "government_procurement"
    LAND_MINING = "land_mining"
    STATE_PROPERTY = "state_property"


class Procedure(StrEnum):
    OPEN_TENDER = "open_tender"
    INVITED_TENDER = "invited_tender"
    COMPETITIVE_NEGOTIATION = "competitive_negotiation"
    COMPETITIVE_CONSULTATION = "competitive_consultation"
    REQUEST_FOR_QUOTATION = "request_for_quotation"
    SINGLE_SOURCE = "single_source"
    TENDER = "tender"
    AUCTION = "auction"
    LISTING = "listing"
    LISTING_MULTI_ROUND = "listing_multi_round"
    LISTING_SEALED_QUOTE = "listing_sealed_quote"
    LISTING_DUTCH = "listing_dutch"


PROCEDURES_BY_SEGMENT: dict[Segment, tuple[Procedure, ...]] = {
    Segment.CONSTRUCTION: (Procedure.OPEN_TENDER, Procedure.INVITED_TENDER),
    Segment.GOVERNMENT_PROCUREMENT: (
        Procedure.OPEN_TENDER, Procedure.INVITED_TENDER, Procedure.COMPETITIVE_NEGOTIATION,
        Procedure.COMPETITIVE_CONSULTATION, Procedure.REQUEST_FOR_QUOTATION, Procedure.SINGLE_SOURCE),
    Segment.LAND_MINING: (Procedure.TENDER, Procedure.AUCTION, Procedure.LISTING),
    Segment.STATE_PROPERTY: (
        Procedure.LISTING_MULTI_ROUND, Procedure.LISTING_SEALED_QUOTE, Procedure.LISTING_DUTCH,
        Procedure.AUCTION, Procedure.TENDER),
}


class ProjectStatus(StrEnum):
    DRAFT = "draft"  # being prepared, nothing public
    ACTIVE = "active"  # a tender notice is out; lots move on their own
    CLOSED = "closed"  # every lot awarded or failed
    ARCHIVED = "archived"  # the archive is made; nothing changes any more


ALLOWED_PROJECT_TRANSITIONS: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.DRAFT: frozenset({ProjectStatus.ACTIVE}),
    ProjectStatus.ACTIVE: frozenset({ProjectStatus.CLOSED}),
    ProjectStatus.CLOSED: frozenset({ProjectStatus.ARCHIVED, ProjectStatus.ACTIVE}),
    ProjectStatus.ARCHIVED: frozenset(),
}


class LotStatus(StrEnum):
    DRAFT = "draft"
    BIDDING = "bidding"  # notice published, bids accepted until the deadline
    SUSPENDED = "suspended"  # an objection to the documents, or a regulator handling a complaint, pauses the process
    OPENING = "opening"  # the deadline passed; the opening session runs
    EVALUATING = "evaluating"  # opened; the committee evaluates
    PUBLICITY = "publicity"  # candidates published, objection window open
    AWARDED = "awarded"  # winner confirmed, award notice issued
    CONTRACTED = "contracted"  # contract signed by both parties
    FAILED = "failed"  # failed tender (流标): too few bids or all rejected
    CANCELLED = "cancelled"  # withdrawn by the tenderer before the deadline


ALLOWED_LOT_TRANSITIONS: dict[LotStatus, frozenset[LotStatus]] = {
    LotStatus.DRAFT: frozenset({LotStatus.BIDDING, LotStatus.CANCELLED}),
    # bidding -> awarded is a price competition's deal only (COMPETITION_LOT_MOVES below).
    LotStatus.BIDDING: frozenset({LotStatus.SUSPENDED, LotStatus.OPENING, LotStatus.CANCELLED, LotStatus.FAILED,
                                  LotStatus.AWARDED}),
    # A regulator handling a complaint may suspend a lot after the deadline too; it resumes where it was.
    LotStatus.SUSPENDED: frozenset({LotStatus.BIDDING, LotStatus.CANCELLED, LotStatus.EVALUATING, LotStatus.PUBLICITY}),
    LotStatus.OPENING: frozenset({LotStatus.EVALUATING, LotStatus.FAILED}),
    LotStatus.EVALUATING: frozenset({LotStatus.PUBLICITY, LotStatus.FAILED, LotStatus.SUSPENDED}),
    LotStatus.PUBLICITY: frozenset({LotStatus.AWARDED, LotStatus.EVALUATING, LotStatus.FAILED, LotStatus.SUSPENDED}),
    LotStatus.AWARDED: frozenset({LotStatus.CONTRACTED}),
    LotStatus.CONTRACTED: frozenset(),
    LotStatus.FAILED: frozenset(),
    LotStatus.CANCELLED: frozenset(),
}

# Moves only the close of a concluded price competition makes (``trading.price_bidding_deal``):
# land listing and auction (MLR Order 39 art. 20: the seller signs a deal confirmation with the
# buyer) and state-property transactions (SASAC/MOF Order 32 art. 23) fix buyer and price at
# the close, so there is no opening, evaluation or candidate publicity. ``trading.projects.change_lot_status`` refuses them for a
# lot without a concluded competition, so a tender lot cannot skip its publicity.
COMPETITION_LOT_MOVES: frozenset[tuple[LotStatus, LotStatus]] = frozenset({(LotStatus.BIDDING, LotStatus.AWARDED)})


class NoticeKind(StrEnum):
    TENDER = "tender"  # 招标公告 (also 出让公告, 挂牌公告 by segment)
    CHANGE = "change"  # 变更公告: clarification, amendment, moved deadline
    CANDIDATE_PUBLICITY = "candidate_publicity"  # 中标候选人公示
    RESULT = "result"  # 中标结果公告
    FAILED = "failed"  # 流标公告
    COMPLAINT_DECISION = "complaint_decision"  # 投诉处理决定: the regulator's decision on a complaint


class DocumentKind(StrEnum):
    TENDER_DOCUMENTS = "tender_documents"
    CLARIFICATION = "clarification"
    ATTACHMENT = "attachment"


class CreditKind(StrEnum):
    BLACKLIST = "blacklist"
    GOOD = "good"
    BAD = "bad"


class ObjectionStage(StrEnum):
    DOCUMENTS = "documents"  # to the tender documents, before the deadline
    OPENING = "opening"  # raised at the opening, answered there
    PUBLICITY = "publicity"  # during candidate publicity


class ObjectionStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class ComplaintStatus(StrEnum):
    FILED = "filed"  # with the regulator, acceptance not yet decided
    ACCEPTED = "accepted"  # under review (受理); the procedure may be suspended
    REJECTED = "rejected"  # not accepted (不予受理), with the reason
    DECIDED = "decided"  # the decision is made and published


ALLOWED_COMPLAINT_TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.FILED: frozenset({ComplaintStatus.ACCEPTED, ComplaintStatus.REJECTED}),
    ComplaintStatus.ACCEPTED: frozenset({ComplaintStatus.DECIDED}),
    ComplaintStatus.REJECTED: frozenset(),
    ComplaintStatus.DECIDED: frozenset(),
}


class ComplaintOutcome(StrEnum):
    UPHELD = "upheld"  # 投诉成立
    DISMISSED = "dismissed"  # 投诉不成立 / 驳回
    PARTLY_UPHELD = "partly_upheld"  # 部分成立


class CaseSource(StrEnum):
    """Why a regulator opened a monitoring case."""

    WARNING = "warning"  # an early warning of the rule engine (its id is given)
    TIP = "tip"  # a report from anyone (举报)
    MEDIA = "media"  # a media report
    RANDOM = "random"  # picked at random (双随机) for a spot check


class CaseStatus(StrEnum):
    OPEN = "open"  # findings being recorded
    AWAITING_RESPONSE = "awaiting_response"  # the tenderer is asked to respond
    RESPONDED = "responded"  # the tenderer responded; the regulator concludes
    CLOSED = "closed"  # concluded


ALLOWED_CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.AWAITING_RESPONSE, CaseStatus.CLOSED}),
    CaseStatus.AWAITING_RESPONSE: frozenset({CaseStatus.RESPONDED, CaseStatus.CLOSED}),
    CaseStatus.RESPONDED: frozenset({CaseStatus.AWAITING_RESPONSE, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}
