"""The evaluation domain's part of the task worker.

No jobs of its own yet. The worker imports every module of ``core.tasks.TASK_MODULES``;
importing this one (evaluation sits above trading and the expert pool) wires the worker
as ``web.runtime`` wires the web processes: replacement experts take their seats when a
notification task fills a draw again after a recusal, every domain's warning rules are
registered, and the streams' scopes are known to supervision.
"""

from __future__ import annotations

import evaluation.warning_rules  # noqa: F401 - the worker runs every domain's warning rules
import expert_pool.warning_rules  # noqa: F401
import trading.warning_rules  # noqa: F401
from evaluation import scopes as evaluation_scopes
from evaluation.committee_hook import install
from trading import scopes as trading_scopes

install()
trading_scopes.install()
evaluation_scopes.install()
