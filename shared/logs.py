"""Structured JSON logs on stderr, one object per line (what log shippers expect)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
                )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Libraries that install their own handlers (FastStream: ANSI-coloured text on stderr, with
# propagation off; uvicorn when given a log config). Their records go through the root's JSON
# handler instead, so every line of a service's output is one JSON object.
LIBRARY_LOGGERS = ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(service: str, level: str = "INFO") -> None:
    with contextlib.suppress(ImportError):
        import faststream  # noqa: F401  # its import installs the coloured handler removed below
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
        # FastStream sets its logger to INFO at import, so its per-message access lines
        # ("Received", "Processed": two JSON lines per message) were written even with
        # NEWSROOM_LOG_LEVEL=WARNING. Follow the configured level like every other logger.
        library.setLevel(logging.NOTSET)
    for noisy in ("uvicorn.access", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
