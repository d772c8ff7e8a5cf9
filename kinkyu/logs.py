"""Structured logs: one JSON object per line, with the fields passed as ``extra``.

Log calls pass ids, counts and categories only. Personal information never
reaches a logger: event payloads are not logged, and error texts name
fields, not values.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON line: ts, level, logger, msg and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object."""
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info and record.exc_info[0] is not None:
            # Type and place only: exception messages from libraries may quote data.
            body["error"] = record.exc_info[0].__name__
            body["trace"] = "".join(traceback.format_tb(record.exc_info[2]))
        return orjson.dumps(body, default=str).decode()


def setup_logging(fmt: str = "json", level: str = "INFO") -> logging.StreamHandler[TextIO]:
    """Send logs to stderr, as JSON lines or plain text; returns the handler."""
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faust", "mode", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler
