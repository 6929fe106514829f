"""``bidhall worker`` consuming a queue of its own, for tests against shared brokers.

Test runs on one machine share the Redis and RabbitMQ servers. With a queue per test
(``BIDHALL_TEST_QUEUE``), no run takes another run's tasks, and no message left behind by an
earlier run can reach this worker. Everything else is the real command:
``python -m tests.core.queue_worker worker --pool solo``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import core.tasks
from web import cli


def main() -> int:
    queue = os.environ["BIDHALL_TEST_QUEUE"]
    create_celery_app = core.tasks.create_celery_app

    def create_celery_app_on_queue(*args: Any, **kwargs: Any) -> Any:
        app = create_celery_app(*args, **kwargs)
        app.conf.task_default_queue = queue
        return app

    core.tasks.create_celery_app = create_celery_app_on_queue  # type: ignore[assignment]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
