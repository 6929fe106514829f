"""Who may be drawn for an evaluation: the eligible snapshot, computed in the database.

An expert is eligible for a requested specialty when they are admitted, within their term,
not on leave that day, hold the specialty or a narrower one (A0401 serves a request for
A04), work for none of the parties to avoid and have had no tie to one within the last
three years, and have not reached the frequency limit. The result is keyed by the experts'
public codes, never their names.

How it stays fast on a pool of a million experts (one statement for the whole draw):

* the holders of a specialty come from the draw index (``expert_pool_draw_index``: admitted
  experts only, kept exact by :mod:`expert_pool.draw_index`), by a RANGE on the code
  (``code >= 'A04' AND code < 'A05'``), which an index serves in any plan, cached or not;
  the index holds every column the query reads, so no expert row is visited;
* what excludes an expert on the day (on leave, employed by or tied to a party to avoid,
  at the frequency limit) is computed ONCE per draw as one small set of expert ids, read
  from the base tables through their own indexes, instead of probed per candidate;
* on PostgreSQL each specialty's codes come back as one newline-joined text, not as one row
  per expert; JIT compilation and parallel workers are off for the transaction, and the
  plan is made for each request's own values (see ``POSTGRES_SETTINGS``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_shanghai
from expert_pool.eligibility_models import ExpertDrawIndex
from expert_pool.models import (
    DrawCall,
    Expert,
    ExpertRelation,
    ExpertUnavailability,
)

AVOIDANCE_DAYS = 3 * 365 + 1  # "within 3 years", counting one leap day
# Specialty codes are letters and digits; their order is the same in the "C" collation and
# in the usual locales, so a range on it is exact whatever the database's collation.
CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATOR = "\n"  # never inside an expert code (codes are printable ASCII without spaces)
# For the rest of the transaction (is_local): this query runs in tens of milliseconds, so
# compiling it (JIT) or starting parallel workers costs more than it saves, and a plan made
# for the request's own dates and codes is better than the generic one PostgreSQL would
# otherwise cache for the pooled connection after five runs.
POSTGRES_SETTINGS = sa.text(
    "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true), "
    "set_config('plan_cache_mode', 'force_custom_plan', true)")


@dataclass(frozen=True)
class FrequencyLimit:
    """At most ``evaluations`` accepted invitations within ``days`` (configurable)."""

    evaluations: int = 4
    days: int = 30


@dataclass(frozen=True)
class _Criteria:
    day: date
    evaluation_at: datetime
    avoid: list[str]
    region_code: str | None
    limit: FrequencyLimit


async def eligible_snapshot(
    session: AsyncSession,
    specialties: list[str],
    *,
    evaluation_at: datetime,
    avoid_parties: list[str],
    region_code: str | None = None,
    limit: FrequencyLimit = FrequencyLimit(),
) -> dict[str, list[str]]:
    """Specialty -> sorted expert codes eligible for it."""
    wanted = sorted(set(specialties))
    snapshot: dict[str, list[str]] = {specialty: [] for specialty in wanted}
    if not wanted or limit.evaluations <= 0:  # a limit of none accepted leaves nobody eligible
        return snapshot
    criteria = _Criteria(to_shanghai(evaluation_at).date(), evaluation_at, sorted(set(avoid_parties)),
                         region_code, limit)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(POSTGRES_SETTINGS)
        for specialty, joined in await session.execute(_snapshot_query(wanted, criteria, aggregate=True)):
            snapshot[specialty] = _sorted_once(joined.split(SEPARATOR) if joined else [])
        return snapshot
    for specialty, code in await session.execute(_snapshot_query(wanted, criteria, aggregate=False)):
        snapshot[specialty].append(code)
    for codes in snapshot.values():
        codes.sort()
    return snapshot


def _sorted_once(codes: list[str]) -> list[str]:
    """Sorted by code point, each code once.

    The codes arrive in the index's order: one sorted run per specialty code held under the
    request (A0401, A0402... for A04), which the sort merges in close to linear time. An expert
    holding two of those codes appears twice; that is rare, so it is looked for first."""
    codes.sort()
    if any(map(operator.eq, codes, islice(codes, 1, None))):
        codes = list(dict.fromkeys(codes))
    return codes


def _snapshot_query(wanted: list[str], criteria: _Criteria, *, aggregate: bool) -> sa.Select | sa.CompoundSelect:
    """One SELECT per specialty (joined by UNION ALL), all sharing the exclusion set."""
    excluded = _excluded_experts(criteria).cte("excluded")
    parts = [_holders(specialty, criteria, excluded, aggregate=aggregate) for specialty in wanted]
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def _holders(specialty: str, criteria: _Criteria, excluded: sa.CTE, *, aggregate: bool) -> sa.Select:
    """The specialty's eligible holders: on PostgreSQL one row (specialty, their codes joined
    by newlines, in the index's order), elsewhere one row per (specialty, code)."""
    index = ExpertDrawIndex
    label = sa.literal(specialty, sa.String).label("specialty")
    conditions = [
        index.specialty >= specialty,
        # (no end of term: never over) written so that no bitmap scan is tempted by an OR of
        # two index conditions: the scan stays index-only.
        sa.func.coalesce(index.term_until, criteria.day) >= criteria.day,
        # On PostgreSQL NOT EXISTS is planned as a hash anti-join, cheaper per row than the
        # hashed subplan of NOT IN; SQLite runs NOT IN from one temporary index. The ids are
        # never null, so the two mean the same.
        ~sa.exists().where(excluded.c.expert_id == index.expert_id) if aggregate
        else index.expert_id.not_in(sa.select(excluded.c.expert_id)),
    ]
    end = prefix_end(specialty)
    if end is not None:
        conditions.append(index.specialty < end)
    if criteria.region_code is not None:
        region = criteria.region_code
        conditions.append(index.region_code.startswith(region.rstrip("0") or region))
    if not aggregate:
        return sa.select(label, index.expert_code).where(*conditions).distinct()
    # Neither DISTINCT nor ORDER BY: sorting here costs more than merging the index's sorted
    # runs in Python (see _sorted_once).
    return sa.select(label, sa.func.string_agg(index.expert_code, sa.literal(SEPARATOR, sa.Text))).where(*conditions)


def _excluded_experts(criteria: _Criteria) -> sa.CompoundSelect | sa.Select:
    """The ids of every expert excluded on the day whatever their specialty: on leave, at the
    frequency limit, employed by or tied (within three years) to a party to avoid."""
    day = criteria.day
    since = criteria.evaluation_at - timedelta(days=criteria.limit.days)
    parts: list[sa.Select] = [
        sa.select(ExpertUnavailability.expert_id.label("expert_id")).where(
            ExpertUnavailability.start_date <= day, ExpertUnavailability.end_date >= day),
        sa.select(DrawCall.expert_id).where(DrawCall.answer == "accepted", DrawCall.answered_at >= since)
        .group_by(DrawCall.expert_id).having(sa.func.count() >= criteria.limit.evaluations),
    ]
    if criteria.avoid:
        horizon = day - timedelta(days=AVOIDANCE_DAYS)
        parts += [
            sa.select(Expert.id).where(Expert.employer_uscc.in_(criteria.avoid)),
            sa.select(ExpertRelation.expert_id).where(
                ExpertRelation.party_uscc.in_(criteria.avoid),
                sa.or_(ExpertRelation.end_date.is_(None), ExpertRelation.end_date >= horizon)),
        ]
    return sa.union_all(*parts)  # an id listed twice excludes no more: no need to pay for a dedupe


def prefix_end(prefix: str) -> str | None:
    """The smallest code above every code that starts with ``prefix`` (None: no bound).

    ``A04`` -> ``A05``, ``A09`` -> ``A0A``, ``A0Z`` -> ``A1``: the next character within the
    code alphabet, so the range holds in any collation that orders letters and digits as
    "C" does (``A0:`` would not: some locales ignore punctuation when comparing)."""
    for position in range(len(prefix) - 1, -1, -1):
        at = CODE_ALPHABET.find(prefix[position])
        if at == -1:
            return prefix[:position] + chr(ord(prefix[position]) + 1)
        if at + 1 < len(CODE_ALPHABET):
            return prefix[:position] + CODE_ALPHABET[at + 1]
    return None
