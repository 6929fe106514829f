"""Tables that serve the eligibility query of draws (see expert_pool.eligibility)."""

from __future__ import annotations
