"""The suite's one fixed moment: every test's data is made as of it, never as of today.

`AS_OF` ends every seeded history (the isolated environment sets `SANDBOX_SOURCE__AS_OF` to
it); `TICK_AT` stamps the rows a test's tick adds, a few hours after that history. The
clock itself still runs (replication, silver's rules and dbt read it): `make test-dates`
runs the suite with it moved to awkward moments (see README).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

AS_OF = date(2026, 6, 15)
TICK_AT = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
