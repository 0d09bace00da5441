"""The configured log level holds for the libraries' loggers too (FastStream sets its own logger to
INFO at import: its two access lines per message were written at NEWSROOM_LOG_LEVEL=WARNING)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared.logs import LIBRARY_LOGGERS, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ["", *LIBRARY_LOGGERS, "faststream.translate"]
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    yield
    for name, (level, handlers) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers


def test_warning_level_silences_faststream_access_lines(restore_logging: None) -> None:
    import faststream  # noqa: F401  # its import sets the "faststream" logger to INFO

    configure_logging("translate", "WARNING")
    broker_logger = logging.getLogger("faststream.translate")  # as shared.pipeline.make_broker names it
    assert not broker_logger.isEnabledFor(logging.INFO)
    assert broker_logger.isEnabledFor(logging.WARNING)


def test_info_level_keeps_faststream_access_lines(restore_logging: None) -> None:
    configure_logging("translate", "INFO")
    assert logging.getLogger("faststream.translate").isEnabledFor(logging.INFO)
