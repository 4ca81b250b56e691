"""Loading CSVs into Postgres: exact counts, unicode intact, and bad files rejected by name,
line and column with the database left exactly as it was."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from services.source.loader import LoadError, load_folder
from services.source.tables import TABLES, csv_name
from tests.source.conftest import table_fingerprints


def csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def replace_line(path: Path, line: int, edit) -> None:
    """Apply `edit` to one line (1 = header) of a file, as bytes."""
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = edit(lines[line - 1])
    path.write_bytes(b"\n".join(lines))


def test_load_matches_the_csv_row_counts(scratch_source, small_csvs: Path) -> None:
    result = load_folder(scratch_source, small_csvs)
    assert not result.skipped
    for table in TABLES:
        expected = csv_rows(small_csvs / csv_name(table))
        assert result.rows[table] == expected
        assert scratch_source.execute(f"SELECT count(*) FROM shop.{table}").fetchone() == (expected,)


def test_loaded_values_round_trip(scratch_source, small_csvs: Path) -> None:
    load_folder(scratch_source, small_csvs)
    with (small_csvs / "payments.csv").open(encoding="utf-8", newline="") as f:
        first = next(csv.DictReader(f))
    row = scratch_source.execute(
        "SELECT amount::text, status, to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        " FROM shop.payments WHERE payment_id = %s",
        (int(first["payment_id"]),),
    ).fetchone()
    assert row == (first["amount"], first["status"], first["attempted_at"].removesuffix("Z"))


def test_a_second_load_of_the_same_files_changes_nothing(scratch_source, small_csvs: Path) -> None:
    load_folder(scratch_source, small_csvs)
    before = table_fingerprints(scratch_source)
    again = load_folder(scratch_source, small_csvs)
    assert again.skipped and again.rows["orders"] == 300
    assert table_fingerprints(scratch_source) == before


def test_new_inserts_after_a_load_get_fresh_ids(scratch_source, small_csvs: Path) -> None:
    load_folder(scratch_source, small_csvs)
    new_id = scratch_source.execute(
        "INSERT INTO shop.products (sku, name, category, price)"
        " VALUES ('SKU-NEW', 'New', 'books', 1) RETURNING product_id"
    ).fetchone()[0]
    assert new_id == 51


def test_unicode_names_survive_the_round_trip(scratch_source, small_csvs: Path, tmp_path: Path) -> None:
    folder = copy_of(small_csvs, tmp_path)
    path = folder / "customers.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    names = [("Zoë", "Ðặng-Müller"), ("美咲", "佐藤"), ("Ana 🚀", 'O\'Brien, "Jr"')]
    for row, (first, last) in zip(rows, names, strict=False):
        row["first_name"], row["last_name"] = first, last
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    load_folder(scratch_source, folder)
    stored = scratch_source.execute("SELECT first_name, last_name FROM shop.customers ORDER BY customer_id LIMIT 3")
    assert stored.fetchall() == names


def set_field(column: int, value: bytes):
    """An edit of one line that replaces its `column`-th CSV field (no quoted commas in these)."""

    def edit(line: bytes) -> bytes:
        fields = line.split(b",")
        fields[column] = value
        return b",".join(fields)

    return edit


# kind: (file, line to break, edit, expected message fragment, expected column)
MALFORMED = {
    "wrong column count": ("payments.csv", 5, lambda b: b + b",extra", "extra data after last expected column", None),
    "bad type": (
        "order_items.csv",
        3,
        set_field(3, b"three"),
        'invalid input syntax for type integer: "three"',
        "quantity",
    ),
    "bad encoding": (
        "customers.csv",
        4,
        lambda b: b.replace(b'"', b'"\xff', 1),
        'invalid byte sequence for encoding "UTF8": 0xff',
        None,
    ),
    "duplicate key": ("products.csv", 3, set_field(0, b"1"), "duplicate key value violates unique constraint", None),
    "broken reference": ("orders.csv", 6, set_field(1, b"999999"), "violates foreign key constraint", "customer_id"),
    "unknown header": ("addresses.csv", 1, lambda b: b.replace(b'"city"', b'"town"'), "unexpected column 'town'", None),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_file_is_named_and_nothing_changes(kind, scratch_source, small_csvs: Path, tmp_path: Path) -> None:
    file, line, edit, message, column = MALFORMED[kind]
    folder = copy_of(small_csvs, tmp_path)
    replace_line(folder / file, line, edit)
    before = table_fingerprints(scratch_source)
    with pytest.raises(LoadError) as error:
        load_folder(scratch_source, folder)
    assert error.value.path == folder / file
    assert error.value.line == line
    assert message in str(error.value)
    assert str(error.value).startswith(f"{folder / file}: line {line}")
    if column:
        assert error.value.column == column
    assert table_fingerprints(scratch_source) == before
    assert scratch_source.execute("SELECT count(*) FROM ops.csv_loads").fetchone() == (0,)


def test_a_failed_load_leaves_earlier_data_untouched(scratch_source, small_csvs: Path, tmp_path: Path) -> None:
    load_folder(scratch_source, small_csvs)
    before = table_fingerprints(scratch_source)
    folder = copy_of(small_csvs, tmp_path)
    replace_line(folder / "payments.csv", 2, lambda b: b + b",extra")
    with pytest.raises(LoadError, match=r"customers\.csv: line 2: duplicate key"):
        load_folder(scratch_source, folder)
    assert table_fingerprints(scratch_source) == before


def test_a_missing_file_is_named(scratch_source, small_csvs: Path, tmp_path: Path) -> None:
    folder = copy_of(small_csvs, tmp_path)
    (folder / "payments.csv").unlink()
    with pytest.raises(LoadError, match=r"payments\.csv: file not found"):
        load_folder(scratch_source, folder)
