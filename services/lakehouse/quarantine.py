"""`quarantine.<table>`: the rows silver refused, the rule each breaks, and what became of them.

A record holds the rule, the row silver would have written as JSON (`raw_row`, its pipeline
columns included, timestamps to the microsecond), where the row came from (`_op`, `_lsn`,
`_seq`, `_batch_id`), when, and its `state`:

- `held`: the row's own values break the rule; only a newer change of its key moves it on.
- `waiting`: a rule the row may pass later with no change at the source (`Rule.rechecked`):
  its parent (a foreign key) was not in silver, or its time lay more than a day ahead. Silver
  checks a waiting row again on every run, so a line quarantined beside its order enters
  silver once the order does, even when the source never changes the line again.
- `entered_silver`: a waiting row that passed its re-check and was written to silver.
- `superseded`: a waiting row whose key changed again at the source (the newer change went to
  silver, or to quarantine on its own), or whose table was copied anew.

A row that breaks several rules has a record per rule. Records written before `state` existed
read it as NULL and count as held: their JSON kept timestamps to the millisecond only, so they
are never re-entered.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from services.lakehouse.names import quoted

HELD, WAITING, ENTERED_SILVER, SUPERSEDED = "held", "waiting", "entered_silver", "superseded"
STILL_QUARANTINED = (HELD, WAITING)  # the states whose row is in quarantine, not in silver
# Spark's JSON default keeps milliseconds only; a re-entered row must keep its exact times.
JSON_OPTIONS = {
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
}
# The pipeline's columns of a row as silver's job holds it (raw_zone.META_FIELDS, changes.py)
PIPELINE_FIELDS = (
    StructField("_op", StringType()),
    StructField("_lsn", LongType()),
    StructField("_seq", LongType()),
    StructField("_commit_ts", TimestampType()),
    StructField("_ingested_at", TimestampType()),
    StructField("_batch_id", StringType()),
    StructField("_unchanged", ArrayType(StringType())),
    StructField("_unrepresentable", MapType(StringType(), StringType())),
    StructField("_keep", ArrayType(StringType())),
    StructField("_unknown", ArrayType(StringType())),
)


def ensure_table(spark: SparkSession, target: str) -> None:
    """Create the table, or add `state` to one written before it existed."""
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {target} (rule string, raw_row string, _op string, _lsn bigint, "
        f"_seq bigint, _batch_id string, quarantined_at timestamp, state string) USING iceberg "
        f"TBLPROPERTIES ('format-version'='2')"
    )
    if "state" not in spark.table(target).columns:
        spark.sql(f"ALTER TABLE {target} ADD COLUMN state string")


def record(spark: SparkSession, target: str, bad: DataFrame, waiting_rules: set[str]) -> None:
    """Write `bad` (a `rule` column and the row's columns), once per (`_lsn`, `_seq`, rule);
    a record of one of `waiting_rules` waits, any other is held."""
    ensure_table(spark, target)
    state = F.when(F.col("rule").isin(*waiting_rules), F.lit(WAITING)) if waiting_rules else F.lit(None)
    records = bad.select(
        "rule",
        F.to_json(F.struct(*[c for c in bad.columns if c != "rule"]), JSON_OPTIONS).alias("raw_row"),
        "_op",
        "_lsn",
        "_seq",
        "_batch_id",
        F.current_timestamp().alias("quarantined_at"),
        F.coalesce(state, F.lit(HELD)).alias("state"),
    )
    view = quoted(f"quarantine {target}")  # one per table: tables run side by side in one session
    records.createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO {target} q USING {view} s "
        f"ON q._lsn = s._lsn AND q._seq = s._seq AND q.rule = s.rule WHEN NOT MATCHED THEN INSERT *"
    )


def waiting_rows(spark: SparkSession, target: str, columns: StructType, keys: list[str]) -> DataFrame | None:
    """The waiting records, typed as silver's job holds a row (`columns`: silver's columns), one
    per (`_lsn`, `_seq`) and newest per key first in rank (`_rank` 1); None when there are none."""
    if not _has_states(spark, target):
        return None
    waiting = spark.table(target).filter(F.col("state") == WAITING)
    if waiting.isEmpty():
        return None
    schema = StructType([*columns.fields, *[f for f in PIPELINE_FIELDS if f.name not in columns.fieldNames()]])
    rows = (
        waiting.select(F.from_json("raw_row", schema, JSON_OPTIONS).alias("row"))
        .select("row.*")
        .dropDuplicates(["_lsn", "_seq"])
    )
    newest_first = Window.partitionBy(*keys).orderBy(F.col("_lsn").desc(), F.col("_seq").desc())
    return rows.withColumn("_rank", F.row_number().over(newest_first))


def supersede_all_but(spark: SparkSession, target: str, batch_ids: list[str]) -> None:
    """Mark superseded every waiting record but those of `batch_ids`: the table was copied anew
    from those batches, whose rows have records of their own."""
    if _has_states(spark, target):
        earlier = spark.table(target).filter((F.col("state") == WAITING) & ~F.col("_batch_id").isin(*batch_ids))
        settle(spark, target, earlier.select("_lsn", "_seq", F.lit(SUPERSEDED).alias("state")))


def _has_states(spark: SparkSession, target: str) -> bool:
    return spark.catalog.tableExists(target) and "state" in spark.table(target).columns


def settle(spark: SparkSession, target: str, moved: DataFrame) -> None:
    """Set the state of waiting records: `moved` holds `_lsn`, `_seq` and the new `state`."""
    moved = moved.select("_lsn", "_seq", "state").dropDuplicates(["_lsn", "_seq"])
    if moved.isEmpty():  # no commit for nothing
        return
    view = quoted(f"settled {target}")
    moved.createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO {target} q USING {view} s ON q._lsn = s._lsn AND q._seq = s._seq AND q.state = '{WAITING}' "
        f"WHEN MATCHED THEN UPDATE SET q.state = s.state"
    )
