"""The metadata of every table, for migrations and the schema check.

Each domain's ``models`` module is listed here; migrations sit beside the packages, not
inside the import hierarchy, so they may know all of them.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

MODEL_MODULES = (
    "supervision.ledger.models",
    "identities.models",
    "identities.trust_models",
    "expert_pool.models",
    "expert_pool.assessment_models",
    "expert_pool.eligibility_models",
    "trading.models",
    "trading.bid_models",
    "trading.opening_models",
    "trading.award_models",
    "evaluation.models",
    "evaluation.channel_models",
    "supervision.heads_models",
    "supervision.warnings.models",
    "trading.complaint_models",
    "trading.reporting_models",
    "trading.price_bidding_models",
)


def metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return SQLModel.metadata
