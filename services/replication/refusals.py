"""Published tables the raw zone cannot hold as they are, each with why and the fix.

Column names never stop a table (the raw zone escapes those it must: `raw_zone.raw_column`), nor
do tables of one name in two schemas (`raw_zone.raw_table` names them apart); two tables whose
raw-zone names still meet (`shop.a__b` and `a.b`, both `a__b`) do.

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
    raw_name: str


def qualified(table: PublishedTable) -> str:
    return f"{table.schema}.{table.name}"


def refusals(tables: Iterable[PublishedTable], publication: str) -> dict[str, str]:
    """{"schema.table": the error, naming table, column and fix} for every table left out."""
    tables = list(tables)
    refused: dict[str, str] = {}
    by_name: dict[str, list[PublishedTable]] = defaultdict(list)
    for table in tables:
        by_name[table.raw_name].append(table)
    for name, namesakes in by_name.items():
        if len(namesakes) > 1:
            listed = " and ".join(qualified(t) for t in namesakes)
            for table in namesakes:
                refused[qualified(table)] = (
                    f"{listed} would both be named {name!r} in the raw zone, silver and the warehouse (a table "
                    f"outside the home schema is named <schema>__<table>): rename one, or leave one out of the "
                    f"publication (ALTER PUBLICATION {publication} DROP TABLE {qualified(table)})"
                )
    return refused
