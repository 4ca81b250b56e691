"""A source table of types the hops carry as their text (enums, domains, interval, network,
bit-string, range, geometric, text-search and composite types, arrays of them), for tests
of replication alone and of the whole pipeline."""

from __future__ import annotations

import psycopg

EXOTIC = {  # column -> (type, a value)
    "mood": ("shop.mood", "'happy'"),
    "positive": ("shop.positive", "7"),
    "term": ("interval", "'1 year 2 mons 3 days 04:05:06.789'"),
    "price": ("money", "12.34"),
    "host": ("inet", "'192.168.0.1/24'"),
    "net": ("cidr", "'10.0.0.0/8'"),
    "mac": ("macaddr", "'08:00:2b:01:02:03'"),
    "flags": ("bit varying(8)", "B'1011'"),
    "span": ("int4range", "'[1,10)'"),
    "spans": ("int4multirange", "'{[1,3), [5,9)}'"),
    "spot": ("point", "'(1.5,-2)'"),
    "words": ("tsvector", "'fat cat sat'"),
    "wall": ("timetz", "'04:05:06.5+02'"),
    "pair": ("shop.pair", "ROW(1, 'x')"),
    "moods": ("shop.mood[]", "ARRAY['happy', 'sad']::shop.mood[]"),
    "terms": ("interval[]", "ARRAY['1 day', '-2 hours']::interval[]"),
}  # xml too, where the server is built with libxml (the embedded one is not)


ODD_NAMES = (  # column names Postgres accepts that collide with the pipeline's or an engine's syntax
    "_op",
    "_lsn",
    "__raw",
    "a.b",
    "x`y",
    "it's",
    'say "hi"',
    "back\\slash",
    "100%",
    "Name",
    "name",
    "ü é",
)


def publish_exotic_table(source: psycopg.Connection) -> None:
    """`shop.exotic`: a row of every such type, a row of NULLs, published (committed)."""
    source.execute("CREATE TYPE shop.mood AS ENUM ('happy', 'sad')")
    source.execute("CREATE DOMAIN shop.positive AS int CHECK (VALUE > 0)")
    source.execute("CREATE TYPE shop.pair AS (n int, s text)")
    columns = ", ".join(f"{name} {kind}" for name, (kind, _) in EXOTIC.items())
    source.execute(f"CREATE TABLE shop.exotic (id int PRIMARY KEY, {columns})")
    source.execute(f"INSERT INTO shop.exotic VALUES (1, {_values()}), (2, {', '.join(['NULL'] * len(EXOTIC))})")
    source.execute("ALTER PUBLICATION shop_cdc ADD TABLE shop.exotic")
    source.commit()


def change_exotic_table(source: psycopg.Connection) -> None:
    """An insert and an update of such values (not committed)."""
    source.execute(f"INSERT INTO shop.exotic VALUES (3, {_values()})")
    source.execute("UPDATE shop.exotic SET term = '-5 minutes', mood = 'sad', spans = '{}' WHERE id = 1")


def exotic_rows_as_text(source: psycopg.Connection) -> dict[int, dict[str, object]]:
    """The table's rows by id, every exotic value as the text Postgres prints for it."""
    as_text = ", ".join(f"{name}::text" for name in EXOTIC)
    return {
        row[0]: dict(zip(["id", *EXOTIC], row, strict=True))
        for row in source.execute(f"SELECT id, {as_text} FROM shop.exotic").fetchall()
    }


def _values() -> str:
    return ", ".join(value for _, value in EXOTIC.values())
