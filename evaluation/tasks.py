"""The evaluation domain's part of the task worker.

No jobs of its own yet; importing this module (the worker imports every module of
``core.tasks.TASK_MODULES``) makes the worker seat replacement experts in their sessions
when a notification task fills a draw again after a recusal.
"""

from __future__ import annotations

from evaluation.committee_hook import install

install()
