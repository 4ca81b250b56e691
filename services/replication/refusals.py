"""Published tables the raw zone cannot hold as they are, each with why and the fix.

Column names never stop a table (the raw zone escapes those it must: `raw_zone.raw_column`);
two tables of one name in two schemas do, as every hop names a table by its name alone.

Such a table stops alone: it is left out of the run (no snapshot, its changes skipped), every
other table goes on, and the run reports it. Once fixed, it is new to the raw zone and is
copied whole, so nothing it held in the meantime is lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol


class PublishedTable(Protocol):
    schema: str
    name: str


def qualified(table: PublishedTable) -> str:
    return f"{table.schema}.{table.name}"


def refusals(tables: Iterable[PublishedTable], publication: str) -> dict[str, str]:
    """{"schema.table": the error, naming table, column and fix} for every table left out."""
    tables = list(tables)
    refused: dict[str, str] = {}
    by_name: dict[str, list[PublishedTable]] = defaultdict(list)
    for table in tables:
        by_name[table.name].append(table)
    for name, namesakes in by_name.items():
        if len(namesakes) > 1:
            listed = " and ".join(qualified(t) for t in namesakes)
            for table in namesakes:
                refused[qualified(table)] = (
                    f"{listed} are both published as {name!r}, and the raw zone, silver and the warehouse name "
                    f"a table by its name alone: rename one, or leave one out of the publication "
                    f"(ALTER PUBLICATION {publication} DROP TABLE {qualified(table)})"
                )
    return refused
