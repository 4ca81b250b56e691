"""Readable logs for every command and flow: time, level, module, message; chatty libraries quieted."""

from __future__ import annotations

import logging

from rich.console import Console

QUIET_LIBRARIES = ("httpx", "httpcore", "botocore", "urllib3", "py4j", "pyiceberg")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


# Progress bars and one-line summaries go to stderr, so stdout stays clean for `--json`
# and `sandbox env`; soft wrap keeps each summary on one line for logs and grep.
console = Console(stderr=True, soft_wrap=True)
