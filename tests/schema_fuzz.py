"""Hypothesis strategies for the schema fuzzer: source tables drawn from Postgres' own type
catalog, with any identifiers, keys, publication options, values and DDL steps.

The types are not a list from memory: `catalog_types` reads every base, range and multirange
type of `pg_catalog` from `pg_type`. Values are drawn per type category (`typcategory`) as
candidate texts; `castable` asks the server which candidates a type accepts, so a type no
candidate fits holds NULLs only (and says so in the example's notes) instead of being left out.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass

import psycopg
from hypothesis import strategies as st
from psycopg import sql

from services.replication.raw_zone import raw_table


@dataclass(frozen=True)
class CatalogType:
    name: str  # as format_type prints it, modifiers included
    category: str  # pg_type.typcategory
    has_array: bool


# Modifiers worth drawing beside the bare type: limits of precision, scale, length.
MODIFIED = {
    "numeric": ["numeric(5,2)", "numeric(38,10)", "numeric(40,0)", "numeric(3,-2)", "numeric(2,4)"],
    "character": ["character(3)"],
    "character varying": ["character varying(4)"],
    "bit": ["bit(3)"],
    "timestamp without time zone": ["timestamp(0) without time zone"],
    "time without time zone": ["time(2) without time zone"],
    "interval": ["interval day to second"],
}


def catalog_types(conn: psycopg.Connection) -> list[CatalogType]:
    """Every type of `pg_catalog` a column can have: base, range and multirange types (arrays are
    drawn on top of their elements), with some modifiers."""
    rows = conn.execute(
        "SELECT format_type(t.oid, NULL), t.typcategory, t.typarray <> 0 FROM pg_type t"
        " WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'r', 'm') AND t.typisdefined"
        " AND t.typcategory NOT IN ('A', 'P', 'X') ORDER BY t.oid"
    ).fetchall()
    types = [CatalogType(name, category, has_array) for name, category, has_array in rows]
    return types + [CatalogType(m, t.category, True) for t in types for m in MODIFIED.get(t.name, [])]


# -- identifiers ---------------------------------------------------------------------------------

NAME_CHARACTERS = string.ascii_letters + string.digits + " _.`'\"%\\$-#éü漢"
column_names = st.text(st.sampled_from(NAME_CHARACTERS), min_size=1, max_size=8)  # any Postgres accepts
table_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}[a-z0-9]", fullmatch=True)  # the catalog's rule


# -- values --------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.integers(-99999, 99999).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**8), max_value=10**8).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", "NaN", "Infinity", "-Infinity", "1e300", "1.4e-45", "3.4028235e38", "0.1"]),
)
_texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
_dates = st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
_times = st.times().map(lambda t: t.isoformat())
_instants = st.one_of(
    st.builds(lambda d, t, z: f"{d} {t}{z}", _dates, _times, st.sampled_from(["", "+00", "+05:30", "-11"])),
    st.sampled_from(["infinity", "-infinity", "24:00:00", "0001-01-01 00:00:00 BC", "1582-10-10"]),
    _dates,
    _times,
)
_intervals = st.one_of(
    st.builds(lambda d, s: f"{d} days {s} seconds", st.integers(-(10**5), 10**5), st.integers(-(10**6), 10**6)),
    st.sampled_from(["1 year 2 mons 3 days 04:05:06.789", "-5 minutes", "infinity", "P1Y2M", "0"]),
)
_floats = st.floats(-1000, 1000, allow_nan=False).map(lambda x: f"{x:g}")
_shapes = st.one_of(
    st.builds(lambda a, b: f"({a},{b})", _floats, _floats),
    st.builds(lambda a, b, c, d: f"(({a},{b}),({c},{d}))", _floats, _floats, _floats, _floats),
    st.builds(lambda a, b, c, d: f"[({a},{b}),({c},{d})]", _floats, _floats, _floats, _floats),
    st.builds(lambda a, b, r: f"<({a},{b}),{r}>", _floats, _floats, st.floats(0, 100).map(lambda x: f"{x:g}")),
    st.builds(lambda a, b, c: f"{{{a},{b},{c}}}", st.just("1"), _floats, _floats),
    st.builds(lambda *p: f"(({p[0]},{p[1]}),({p[2]},{p[3]}),({p[4]},{p[5]}))", *[_floats] * 6),
)
_networks = st.one_of(
    st.ip_addresses().map(str),
    st.builds(lambda ip, bits: f"{ip}/{bits}", st.ip_addresses(v=4).map(str), st.integers(0, 32)),
    st.sampled_from(["10.0.0.0/8", "::1/128", "08:00:2b:01:02:03", "08:00:2b:01:02:03:04:05"]),
)
_bits = st.text("01", max_size=10)
_ranges = st.one_of(
    st.builds(lambda a, b, o, c: f"{o}{a},{b}{c}", _numbers, _numbers, st.sampled_from("[("), st.sampled_from("])")),
    st.builds(lambda a, b: f"[{a},{b})", _dates, _dates),
    st.builds(lambda a, b: f"{{[{a},{b}), [{b},{b}]}}", _numbers, _numbers),
    st.sampled_from(["empty", "(,)", "{}", "[1,3)", "{[1,3), [5,9)}", "[2020-01-01,2021-01-01)"]),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=6,
).map(json.dumps)
OTHER_TEXTS = [
    "fat:1 cat:2", "fat & cat", "<a>x</a>", "\\x0a0b", "10:20:10,14", "$.a", "(0,1)", "42", "a",
    "12.34", "pg_class", "=r/postgres", "0", "1", "{}", "", "integer", "english", "+", "now",
]  # fmt: skip
_others = st.one_of(  # what the catalog's other types ('U'ser-ish, internal, text search) accept
    st.uuids().map(str),
    _json,
    st.builds(lambda a, b: f"{a:X}/{b:X}", st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.sampled_from(OTHER_TEXTS),
    _numbers,
    _texts,
)
BY_CATEGORY = {
    "B": st.sampled_from(["true", "false"]),
    "N": _numbers,
    "S": _texts,
    "D": _instants,
    "T": _intervals,
    "G": _shapes,
    "I": _networks,
    "V": _bits,
    "R": _ranges,
}


def fixed_candidates(kind: CatalogType, role: str) -> list[str]:
    """Texts tried, in order, for the every-type table: the first two that `kind` accepts are its values."""
    return [*SAMPLES.get(kind.category, []), *OTHER_TEXTS, f"{role}=r/{role}", role, *SAMPLES["any"]]


SAMPLES = {  # per category, then for any type: limits, oddities, each shape of each type
    "N": ["9223372036854775807", "-32768", "0.1", "-12.5", "NaN", "-Infinity", "1e-40", "123456.789"],
    "S": ["", "it's \"quoted\" ü 漢", "  padded  ", "a"],
    "D": ["0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+05:30", "infinity", "1582-10-10", "24:00:00",
          "04:05:06.5+02", "2026-06-15"],
    "T": ["1 year 2 mons 3 days 04:05:06.789", "-5 minutes", "infinity"],
    "G": ["(1.5,-2)", "((0,0),(1,1))", "[(0,0),(1,1)]", "<(0,0),2>", "{1,-1,0}", "((0,0),(1,0),(0,1))",
          "[(0,0),(1,1),(2,0)]"],
    "I": ["192.168.0.1/24", "::ffff:1.2.3.4", "10.0.0.0/8", "08:00:2b:01:02:03", "08:00:2b:01:02:03:04:05"],
    "V": ["101", "1"],
    "R": ["[1,10)", "empty", "{[1,3), [5,9)}", "{}", "[2020-01-01,2021-01-01)", "[1.5,2.5]",
          "[2020-01-01 00:00,2020-01-02 00:00)", "{[2020-01-01,2020-02-01)}", "{[1.5,2.5]}",
          "{[2020-01-01 00:00,2020-01-02 00:00)}"],
    "any": ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6", '{"a": [1, 2.5, null], "b": "ü"}', "16/B374D848", "abs",
            "abs(integer)", "+(integer,integer)", "C", "simple", "pg_catalog", "pg_class", "english", "c", "x",
            "08:00:2b:01:02:03", "08:00:2b:01:02:03:04:05"],
}  # fmt: skip


def candidates(kind: CatalogType) -> st.SearchStrategy[list[str]]:
    """Texts that may be values of `kind`: several, as a type accepts only some of its category's."""
    return st.lists(BY_CATEGORY.get(kind.category, _others), min_size=1, max_size=4)


# -- tables and steps ----------------------------------------------------------------------------


@dataclass
class ColumnSpec:
    name: str
    type: CatalogType
    array: bool

    @property
    def ddl_type(self) -> str:
        return f"{self.type.name}[]" if self.array else self.type.name


@dataclass
class TableSpec:
    name: str
    schema: str  # the home schema, `shop`, or another (`raw_zone.raw_table`)
    keys: list[ColumnSpec]  # integer or text, never NULL
    columns: list[ColumnSpec]
    published: list[str] | None  # the publication's column list (keys included); None: every column
    row_filter: bool  # publish only rows whose first key is even (an integer key) or starts "a"-"m"

    @property
    def raw_name(self) -> str:
        """Its name in the raw zone and every hop after it."""
        return raw_table(self.schema, self.name, "shop")


@st.composite
def tables(draw: st.DrawFn, types: list[CatalogType]) -> TableSpec:
    names = draw(st.lists(column_names, min_size=2, max_size=7, unique=True))
    key_count = draw(st.integers(1, min(2, len(names) - 1)))
    key_types = [CatalogType(draw(st.sampled_from(["integer", "text"])), "N", True) for _ in range(key_count)]
    keys = [ColumnSpec(name, kind, False) for name, kind in zip(names, key_types, strict=False)]
    columns = [column(draw, name, types) for name in names[key_count:]]
    listed = draw(st.booleans())
    published = None
    if listed and columns:
        kept = draw(st.lists(st.sampled_from([c.name for c in columns]), unique=True))
        published = [k.name for k in keys] + kept
    schema = draw(st.sampled_from(["shop", "elsewhere"]))
    return TableSpec(draw(table_names), schema, keys, columns, published, draw(st.booleans()))


def column(draw: st.DrawFn, name: str, types: list[CatalogType]) -> ColumnSpec:
    kind = draw(st.sampled_from(types))
    return ColumnSpec(name, kind, kind.has_array and draw(st.booleans()))


STEPS = ("insert", "update", "delete", "rename", "add column", "drop column")


def steps() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(STEPS), min_size=1, max_size=4)


def castable(conn: psycopg.Connection, texts: list[str], type_name: str) -> str | None:
    """The first of `texts` that `type_name` accepts (None if none): the server is the judge."""
    for text in texts:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SELECT {}::{}").format(sql.Literal(text), sql.SQL(type_name)))
            return text
        except psycopg.Error:
            continue
    return None
