"""Tables of price competitions: listing quotes, auctions and online bidding (land, mining rights, state property)."""

from __future__ import annotations
