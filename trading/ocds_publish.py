"""OCDS as the platform publishes it: a project's releases, pages of every release, a
record by its ocid, and the package the ``bidhall export ocds`` command writes.

Everything here is public data (what the notices, the published opening records and the
award notices already made public), so reading needs no sign-in and is not a use case.
Pages are of :data:`PAGE_SIZE` releases, oldest first (date, then release id), optionally
from a ``since`` time; every page is rebuilt from the tables, so a release never changes
page except when an older one appears, which only a back-dated row could cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import parse_rfc3339
from core.errors import FieldError, InvalidInput, NotFound
from trading.ocds import OCID_PREFIX, releases_of
from trading.ocds_facts import project_by_code, project_facts, public_projects
from trading.ocds_record import (
    EXPORT_URI_BASE,
    record_of,
    record_package,
    release_package,
)

PAGE_SIZE = 100


@dataclass(frozen=True)
class ReleasePage:
    package: dict[str, Any]
    page: int
    pages: int
    total: int


async def project_releases(session: AsyncSession, project_id: int | None = None, *,
                           since: datetime | None = None) -> list[dict[str, Any]]:
    """The releases of one public project, or of every one, project by project (with
    ``since``, of the projects that may have releases from then on)."""
    found: list[dict[str, Any]] = []
    for project in await public_projects(session, project_id, since):
        found.extend(releases_of(await project_facts(session, project)))
    return found


async def export_package(session: AsyncSession, project_id: int | None = None) -> dict[str, Any]:
    """The release package of one project (or of all): what ``bidhall export ocds`` writes."""
    releases = await project_releases(session, project_id)
    if not releases:
        what = f"project {project_id} has" if project_id is not None else "the platform has"
        raise NotFound(f"{what} no public release yet (a project is public from its tender notice)")
    uri = f"{EXPORT_URI_BASE}:project:{project_id}" if project_id is not None else f"{EXPORT_URI_BASE}:all"
    return release_package(releases, uri)


async def releases_page(session: AsyncSession, *, page: int, since: datetime | None, uri: str) -> ReleasePage:
    """Page ``page`` (from 1) of every release dated at or after ``since``."""
    if page < 1:
        raise InvalidInput("page must be 1 or more", [FieldError("page", "must be at least 1")])
    releases = [release for release in await project_releases(session, since=since)
                if since is None or parse_rfc3339(release["date"]) >= since]
    releases.sort(key=lambda release: (parse_rfc3339(release["date"]), release["id"]))
    pages = max(1, -(-len(releases) // PAGE_SIZE))
    if page > pages:
        raise NotFound(f"page {page} is past the last page ({pages})")
    chosen = releases[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return ReleasePage(package=release_package(chosen, uri), page=page, pages=pages, total=len(releases))


async def record_package_of(session: AsyncSession, ocid: str, uri: str) -> dict[str, Any]:
    """The record package of the process ``ocid`` (404 for an unknown or draft one)."""
    prefix = f"{OCID_PREFIX}-"
    project = await project_by_code(session, ocid[len(prefix):]) if ocid.startswith(prefix) else None
    releases = releases_of(await project_facts(session, project)) if project is not None else []
    if not releases:
        raise NotFound(f"no contracting process {ocid!r} is published here")
    return record_package([record_of(ocid, releases)], uri)
