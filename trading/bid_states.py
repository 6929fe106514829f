"""Statuses of bids and uploads, with the moves allowed between them.

A bid is ``submitted`` until the deadline; the bidder may replace it (a new bid, the old one
``replaced``) or withdraw it. At the opening it becomes ``opened``, or ``revoked`` when
decryption fails through the bidder's fault, or ``withdrawn_at_opening`` when it fails for
another cause; evaluation may ``reject`` an opened bid. Every status but ``submitted`` and
``opened`` is final.
"""

from __future__ import annotations

from enum import StrEnum


class BidStatus(StrEnum):
    SUBMITTED = "submitted"
    REPLACED = "replaced"
    WITHDRAWN = "withdrawn"
    OPENED = "opened"
    REVOKED = "revoked"
    WITHDRAWN_AT_OPENING = "withdrawn_at_opening"
    REJECTED = "rejected"


ALLOWED_BID_TRANSITIONS: dict[BidStatus, frozenset[BidStatus]] = {
    BidStatus.SUBMITTED: frozenset({
        BidStatus.REPLACED, BidStatus.WITHDRAWN, BidStatus.OPENED, BidStatus.REVOKED,
        BidStatus.WITHDRAWN_AT_OPENING, BidStatus.REJECTED}),
    BidStatus.OPENED: frozenset({BidStatus.REJECTED}),
    BidStatus.REPLACED: frozenset(),
    BidStatus.WITHDRAWN: frozenset(),
    BidStatus.REVOKED: frozenset(),
    BidStatus.WITHDRAWN_AT_OPENING: frozenset(),
    BidStatus.REJECTED: frozenset(),
}

# What the opening and evaluation may set through ``bids.set_bid_status``; replacing and
# withdrawing are the bidder's own use cases, with their own checks and events.
OPENING_STATUSES = frozenset({BidStatus.OPENED, BidStatus.REVOKED, BidStatus.WITHDRAWN_AT_OPENING,
                              BidStatus.REJECTED})


class UploadStatus(StrEnum):
    RECEIVING = "receiving"  # chunks arriving; ``received`` says where to resume
    COMPLETE = "complete"  # every byte received and checked; ready to be submitted
    SUBMITTED = "submitted"  # became a bid; the spool file is gone


class BondForm(StrEnum):
    GUARANTEE = "guarantee"  # a bank guarantee (保函)
    PAYMENT = "payment"  # a transfer to the centre's bond account
    INSURANCE = "insurance"  # a bid-bond insurance policy
