"""Readable logs for every command and flow: time, level, module, message; chatty libraries quieted."""

from __future__ import annotations

import logging

QUIET_LIBRARIES = ("httpx", "httpcore", "botocore", "urllib3", "py4j", "pyiceberg")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
