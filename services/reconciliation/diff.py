"""Where two copies of a table differ, found as data-diff tools find it: by key range.

Both sides checksum the same key ranges where their data is; a range whose checksums agree
is done, one that differs is split into `BUCKETS` and only the differing parts are looked
into, until a part holds few enough rows to compare row by row. So one wrong cell among
millions costs a few range queries, and the answer names the keys and the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.reconciliation.sides import Fingerprint, Key, Range, Side, bucket_width

BUCKETS = 16
ROWS_AT_ONCE = 512  # a range this small is compared row by row
SHOWN = 60  # characters of a cell shown in a difference


@dataclass(frozen=True)
class Difference:
    key: Key
    what: str  # "missing", "unexpected" or "differs"
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # (column, got, expected)

    def describe(self, key_names: list[str]) -> str:
        key = ", ".join(f"{name}={value}" for name, value in zip(key_names, self.key, strict=True))
        if self.what != "differs":
            return f"{key}: {self.what}"
        cells = "; ".join(f"{column} is {_shown(got)}, expected {_shown(want)}" for column, got, want in self.columns)
        return f"{key}: {cells}"


def _shown(cell: str) -> str:
    """A canonical cell for people: NULL, or its value (without the length prefix of text)."""
    if cell == "n":
        return "NULL"
    if cell == "u":
        return "unknown"
    text = cell[1:]
    length, colon, rest = text.partition(":")
    if colon and length.isdigit():
        text = rest
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def first_differences(expected: Side, actual: Side, limit: int = 3) -> list[Difference]:
    """Up to `limit` differing rows, lowest keys first."""
    if not (expected.integer_key and actual.integer_key):
        return _compare_rows(expected, actual, None, limit)
    spans = [s for s in (expected.span(), actual.span()) if s is not None]
    if not spans:
        return []
    found: list[Difference] = []
    _narrow(expected, actual, (min(s[0] for s in spans), max(s[1] for s in spans) + 1), limit, found)
    return found


def _narrow(expected: Side, actual: Side, where: tuple[int, int], limit: int, found: list[Difference]) -> None:
    ours, theirs = expected.buckets(where, BUCKETS), actual.buckets(where, BUCKETS)
    width, none = bucket_width(where, BUCKETS), Fingerprint(0, 0)
    for bucket in sorted(set(ours) | set(theirs)):
        if len(found) >= limit:
            return
        if ours.get(bucket) == theirs.get(bucket):
            continue
        part = (where[0] + bucket * width, min(where[1], where[0] + (bucket + 1) * width))
        rows = max(ours.get(bucket, none).rows, theirs.get(bucket, none).rows)
        if rows <= ROWS_AT_ONCE or part[1] - part[0] <= BUCKETS:
            found += _compare_rows(expected, actual, part, limit - len(found))
        else:
            _narrow(expected, actual, part, limit, found)


def _compare_rows(expected: Side, actual: Side, where: Range, limit: int) -> list[Difference]:
    ours, theirs = expected.row_hashes(where), actual.row_hashes(where)
    keys = sorted((k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)), key=_sortable)[:limit]
    wanted, got = expected.cells(keys), actual.cells(keys)
    names = [c.source for c in expected.columns]
    differences = []
    for key in keys:
        if key not in theirs:
            differences.append(Difference(key, "missing"))
        elif key not in ours:
            differences.append(Difference(key, "unexpected"))
        else:
            cells = [(n, g, w) for n, g, w in zip(names, got.get(key, []), wanted.get(key, []), strict=False) if g != w]
            differences.append(Difference(key, "differs", cells))
    return differences


def _sortable(key: Key) -> tuple:
    return tuple((value is None, str(type(value)), value) for value in key)
