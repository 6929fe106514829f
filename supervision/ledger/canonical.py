"""Canonical JSON (RFC 8785, JCS): the exact bytes every ledger entry is hashed as."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import rfc8785

from core.clock import rfc3339

JsonValue = Any


def to_json_value(value: Any) -> JsonValue:
    """Turn domain values into plain JSON values with one spelling each.

    Money and scores are ``Decimal`` and become strings (no floats in the ledger, so the
    canonical bytes never depend on float formatting); times become RFC 3339 UTC text.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not recorded in the ledger; use Decimal")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json_value(item) for item in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    raise TypeError(f"cannot record a {type(value).__name__} in the ledger")


def canonical_bytes(value: Any) -> bytes:
    return rfc8785.dumps(to_json_value(value))
