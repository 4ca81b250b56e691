"""Turns "connection refused" from any client into one line naming the local service that is down.

With the services stopped, a stage fails deep inside psycopg, botocore, httpx or the JVM,
each with its own traceback. `sandbox` (services/cli.py) passes any error through
`service_down_message`: when the error's chain says a connection to the port of one of
the local services was refused, the user reads which service and what to run instead.
"""

from __future__ import annotations

import re

from services.platform.settings import Settings

# "127.0.0.1:8333" (URLs, Java), '"127.0.0.1", port 5433' (libpq)
_ADDRESS = re.compile(r"(?:127\.0\.0\.1|localhost)(?::|\"?, port )(\d{2,5})")
_REFUSED = re.compile(r"refused|could not connect|connecterror|connection reset|failed to establish", re.IGNORECASE)


def _chain_text(error: BaseException) -> str:
    seen, texts, current = set(), [], error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current}")
        request = getattr(current, "_request", None)  # httpx keeps the URL beside, not in, the message
        if request is not None:
            texts.append(str(request.url))
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def service_down_message(error: BaseException, settings: Settings) -> str | None:
    """One line naming the local service a refused connection was for, or None if it was not one."""
    if not settings.runs_local_services:
        return None
    text = _chain_text(error)
    if not _REFUSED.search(text):
        return None
    from services.platform.local.servers import local_services

    ports = {int(port) for port in _ADDRESS.findall(text)}
    for spec in local_services(settings):
        if any(claim.port in ports for claim in spec.ports):
            return (
                f"{spec.name} ({spec.url}) is not answering: start the local services with `sandbox up` "
                "(`sandbox status` shows which are down)"
            )
    return None
