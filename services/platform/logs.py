"""Readable logs for every command and flow: time, level, module, message; chatty libraries quieted."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rich.console import Console

QUIET_LIBRARIES = ("httpx", "httpcore", "botocore", "urllib3", "py4j", "pyiceberg")


class RedactSecrets(logging.Filter):
    """Replaces every configured secret in a log line with ***, whoever logs it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def configure_logging(verbose: bool = False, secrets: Iterable[str] = ()) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)
        handler.addFilter(redact)


# Progress bars and one-line summaries go to stderr, so stdout stays clean for `--json`
# and `sandbox env`; soft wrap keeps each summary on one line for logs and grep.
console = Console(stderr=True, soft_wrap=True)
