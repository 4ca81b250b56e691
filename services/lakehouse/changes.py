"""A silver table's pending raw rows, reduced to each key's newest state: what one MERGE applies.

The raw zone's contract (`services/replication/raw_zone.py`): rows apply in (`_lsn`, `_seq`)
order, a truncate empties the table, and a column named in a row's `_unchanged` carries no
value: Postgres did not resend a large value the update left untouched. Its value is the key's
previous one, found here in this order:

1. the key's newest earlier row in this backlog that has the column (since its last delete);
2. if the key's rows since its last delete began with an update, the value silver holds for
   the key: the row gets the column in `_keep`, and the MERGE keeps the stored value;
3. if they began with a key change (an insert whose untouched columns are the old key's), the
   old key's value just before the change, by the same rules, through chains of key changes.

When none of those knows the value (no earlier version reached silver), the column is listed
in `_unknown` and the row goes to quarantine: a value is never guessed.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ORDER = ("_lsn", "_seq")
MAX_KEY_CHANGES = 32  # a chain of key changes longer than this within one backlog is reported unknown
KEEP, UNKNOWN = "_keep", "_unknown"  # columns that the MERGE keeps from silver / that no one knows


def after_last_truncate(changes: DataFrame) -> DataFrame:
    """The rows after the newest truncate: the table was emptied there."""
    cut = changes.filter(F.col("_op") == "truncate").agg(F.max(F.struct(*ORDER)).alias("cut")).first().cut
    after = (F.col("_lsn") > cut["_lsn"]) | ((F.col("_lsn") == cut["_lsn"]) & (F.col("_seq") > cut["_seq"]))
    return changes.filter(after & (F.col("_op") != "truncate"))


def _newest(rows: DataFrame, keys: list[str]) -> DataFrame:
    newest_first = Window.partitionBy(*keys).orderBy(*(F.col(c).desc() for c in ORDER))
    return rows.withColumn("_rank", F.row_number().over(newest_first)).filter("_rank = 1").drop("_rank")


def latest_per_key(changes: DataFrame, keys: list[str], unchanged: list[str], stored: DataFrame | None) -> DataFrame:
    """Each key's newest row, its `unchanged` columns filled in (see the module's docstring).

    `stored` is silver's current table (None when it is being replaced). With unchanged
    columns the result has `_keep` and `_unknown` (arrays of column names).
    """
    if not unchanged:
        return _newest(changes, keys)
    by_key = Window.partitionBy(*keys).orderBy(*ORDER)
    deletes_before = F.sum((F.col("_op") == "delete").cast("int")).over(
        by_key.rowsBetween(Window.unboundedPreceding, -1)
    )
    rows = changes.withColumn("_segment", F.coalesce(deletes_before, F.lit(0)))
    since_delete = (
        Window.partitionBy(*keys, "_segment").orderBy(*ORDER).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    rows = rows.withColumn("_origin", F.first(F.struct("_op", *ORDER)).over(since_delete))
    for column in unchanged:
        carried = (F.col("_op") != "delete") & ~F.coalesce(F.array_contains("_unchanged", column), F.lit(False))
        rows = rows.withColumn(
            _known(column), F.last(F.when(carried, F.struct(F.col(column).alias("value"))), True).over(since_delete)
        )
    rows = rows.cache()
    latest = _newest(rows, keys)
    for column in unchanged:
        latest = _through_key_changes(rows, latest, keys, column, stored)

    def missing(column: str) -> Column:
        return (F.col("_op") != "delete") & F.col(_known(column)).isNull()

    from_silver = F.col("_origin._op") == "update"
    latest = latest.select(
        *[c for c in changes.columns if c not in unchanged],
        *[
            F.coalesce(F.col(f"{_known(c)}.value"), F.col(f"{_via_old_key(c)}.value")).alias(c)
            if c in changes.columns
            else F.lit(None).alias(c)
            for c in unchanged
        ],
        _names([(c, missing(c) & from_silver) for c in unchanged]).alias(KEEP),
        _names([(c, missing(c) & ~from_silver & F.col(_via_old_key(c)).isNull()) for c in unchanged]).alias(UNKNOWN),
    )
    return latest.select(*changes.columns, KEEP, UNKNOWN)


def _known(column: str) -> str:
    return f"_known_{column}"


def _via_old_key(column: str) -> str:
    return f"_via_old_key_{column}"


def _names(conditions: list[tuple[str, Column]]) -> Column:
    return F.filter(
        F.array(*[F.when(condition, F.lit(name)) for name, condition in conditions]), lambda n: n.isNotNull()
    )


def _through_key_changes(
    rows: DataFrame, latest: DataFrame, keys: list[str], column: str, stored: DataFrame | None
) -> DataFrame:
    """Add `_via_old_key_<column>` to `latest`: for rows whose history since their last delete
    began with a key change, the old key's value of `column` (null where unknown or not needed)."""

    def before_origin(frame: DataFrame) -> DataFrame:  # a key change's delete comes just before its insert
        return frame.select(*keys, F.col("_origin._lsn").alias("_at_lsn"), (F.col("_origin._seq") - 1).alias("_at_seq"))

    needed = before_origin(latest.filter(F.col(_known(column)).isNull() & (F.col("_origin._op") == "insert")))
    pointers = rows.select(
        F.col("_lsn").alias("_at_lsn"),
        F.col("_seq").alias("_at_seq"),
        F.col(_known(column)).alias("_value"),
        "_origin",
        *[F.col(k).alias(f"_old_{k}") for k in keys],
    )
    old_keys = [f"_old_{k}" for k in keys]
    silver = (
        stored.select(
            *[F.col(k).alias(f"_old_{k}") for k in keys], F.struct(F.col(column).alias("value")).alias("_stored")
        )
        if stored is not None
        else None
    )
    found: list[DataFrame] = []
    for _ in range(MAX_KEY_CHANGES):
        if needed.isEmpty():
            break
        step = needed.join(pointers, ["_at_lsn", "_at_seq"]).cache()
        found.append(step.filter(F.col("_value").isNotNull()).select(*keys, "_value"))
        unknown_here = step.filter(F.col("_value").isNull())
        if silver is not None:  # the old key's rows here began before this backlog: silver holds its value
            from_silver = unknown_here.filter(F.col("_origin._op").isin("update", "delete")).join(silver, old_keys)
            found.append(from_silver.select(*keys, F.col("_stored").alias("_value")))
        needed = before_origin(unknown_here.filter(F.col("_origin._op") == "insert"))
    value_type = latest.schema[_known(column)].dataType
    if not found:
        return latest.withColumn(_via_old_key(column), F.lit(None).cast(value_type))
    values = found[0]
    for more in found[1:]:
        values = values.unionByName(more)
    return latest.join(values.withColumnRenamed("_value", _via_old_key(column)), keys, "left")
