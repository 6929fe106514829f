"""What every ``bidhall`` command shares: JSON output, failures, the runtime, input files."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.settings import Settings
from web.runtime import Runtime

MAX_INPUT_FILE_BYTES = 16 * 1024 * 1024


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"bidhall: {message}\n")
    return code


def run_with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    from core.tasks import create_celery_app

    create_celery_app(settings)  # so use cases that enqueue tasks can send them

    async def main() -> int:
        runtime = Runtime.from_settings(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def read_input_file(path: Path, limit: int = MAX_INPUT_FILE_BYTES) -> bytes:
    """A small input file (certificate, key), with a clear error when it is not there."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    if size > limit:
        raise InvalidInput(f"{path} is {size} bytes; at most {limit} are read")
    return path.read_bytes()
