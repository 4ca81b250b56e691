"""Raw -> silver (the Databricks role): apply the raw zone's change batches to Iceberg tables.

For each silver table, parents before children (tables not linked by a foreign key side by side):

1. **What is new.** `backlog.py` compares the table's bookmark with the raw zone's manifests:
   a newer snapshot batch means "replace the table", later change batches are merged.
2. **Latest change per key.** Spark reads the batches' Parquet over s3a, drops rows before
   a truncate, and keeps each key's newest change by (`_lsn`, `_seq`).
3. **Quality.** Rows that break a rule of `design.py` go to `quarantine.<table>` (with the
   rule and the raw row as JSON) instead of silver; the counts are reported. A foreign key
   is checked against the parent's silver table, so parents are applied first. A row
   quarantined by a rule it may pass later (its parent missing, its time too far ahead) waits
   there and is checked again on every run, until it enters silver or a newer change of its
   key supersedes it (`quarantine.py`).
4. **Schema.** New source columns become new Iceberg columns; safe widenings are applied;
   anything else stops this table with a clear error while the others go on.
5. **Commit.** One Iceberg commit writes the data and the new bookmark together, so a crash
   can never separate them; a rerun over the same raw data changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from services.lakehouse import quarantine
from services.lakehouse.backlog import BOOKMARK, SilverBacklog
from services.lakehouse.changes import KEEP, UNKNOWN, after_last_truncate, latest_per_key
from services.lakehouse.design import (
    NOW,
    TABLE_PROPERTIES,
    SilverTable,
    keyless_tables,
    silver_designs,
    unnamable_tables,
)
from services.lakehouse.names import in_raw_names, in_source_names, quoted
from services.lakehouse.schema import evolve_table
from services.platform.catalog import CATALOG_NAME
from services.platform.iceberg import commit_with_properties
from services.platform.settings import Settings
from services.replication.raw_zone import META_COLUMNS, Manifest, TableFiles, raw_column, source_column

log = logging.getLogger(__name__)
RETRIED = "_retried"  # a waiting row of quarantine, checked again
PIPELINE_COLUMNS = (*META_COLUMNS, KEEP, UNKNOWN, RETRIED)  # raw and merge bookkeeping, never written to silver
UNKNOWN_UNCHANGED = "unknown_unchanged_value"  # a large value an update left untouched, whose value no one knows
UNREPRESENTABLE, UNREPRESENTABLE_VALUE = "_unrepresentable", "unrepresentable_value"


class SchemaEvolutionError(ValueError):
    """A source change silver cannot take without losing data; only its table stops."""


@dataclass
class TableResult:
    table: str
    mode: str = "up to date"  # replace, merge or up to date
    batches: int = 0
    upserts: int = 0
    deletes: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    reentered: int = 0  # waiting rows of quarantine that entered silver
    schema_changes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        if self.error:
            return f"{self.table}: STOPPED: {self.error}"
        bad = sum(self.quarantined.values())
        parts = [
            f"{self.table}: {self.mode}",
            f"{self.batches} batches",
            f"{self.upserts:,} upserts",
            f"{self.deletes:,} deletes",
            f"{bad:,} quarantined",
        ]
        if self.reentered:
            parts.append(f"{self.reentered:,} re-entered from quarantine")
        if self.schema_changes:
            parts.append("schema: " + "; ".join(self.schema_changes))
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


class SilverJob:
    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        database: str | None = None,
        step: Callable[[str], None] = lambda point: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`clock` says when a run happens, for rules that depend on it (a time more than a day ahead)."""
        self.spark, self.settings, self.step, self.clock = spark, settings, step, clock
        self.backlog = SilverBacklog(settings, database)
        self.raw = self.backlog.raw
        self.silver = f"{CATALOG_NAME}.{settings.lakehouse.silver_namespace}"
        self.quarantine = f"{CATALOG_NAME}.{settings.lakehouse.quarantine_namespace}"

    def table_name(self, table: str) -> str:
        return f"{self.silver}.{quoted(table)}"

    def run(self, tables: list[str] | None = None, full_refresh: bool = False) -> list[TableResult]:
        """Bring every (or each named) silver table up to date with the raw zone."""
        manifests, results = self.raw.manifests(), {}
        designs = silver_designs(manifests)
        if unknown := set(tables or []) - {t.name for t in designs} - set(keyless_tables(manifests)):
            raise ValueError(
                f"unknown table {', '.join(sorted(unknown))}; silver tables: {', '.join(t.name for t in designs)}"
            )
        for namespace in (self.silver, self.quarantine):
            self.spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {namespace}")
        refused = {
            name: "no primary key at the source: silver keys every row by it. Add one to the source table (or "
            "leave it out of the publication); its rows so far wait in the raw zone"
            for name in keyless_tables(manifests)
        } | unnamable_tables(manifests)
        chosen = [design for design in designs if (not tables or design.name in tables) and design.name not in refused]
        refused_here = [name for name in sorted(refused) if not tables or name in tables]
        results |= {name: TableResult(name, error=refused[name]) for name in refused_here}
        # A table's foreign-key rules read its parents' silver tables, so parents go first; tables
        # of one wave do not depend on each other and run side by side (Spark runs jobs from
        # several threads at once; a tick's jobs are small, so this uses the idle cores).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="silver") as pool:
            for wave in _waves(chosen):
                work = {design.name: pool.submit(self._timed, design, manifests, full_refresh) for design in wave}
                results |= {name: future.result() for name, future in work.items()}
        for name in refused_here:
            log.error(results[name].summary())
        return [results[design.name] for design in chosen] + [results[name] for name in refused_here]

    def _timed(self, design: SilverTable, manifests: list[Manifest], full_refresh: bool) -> TableResult:
        """One table's run; whatever stops it stops it alone, named in its result (the stage's exit
        code says some table stopped), and the other tables go on."""
        started = time.monotonic()
        try:
            result = self._apply(design, manifests, full_refresh)
        except SchemaEvolutionError as error:
            result = TableResult(design.name, error=str(error))
        except Exception as error:  # any other failure of one table is that table's result
            log.exception("silver table %s stopped", design.name)
            result = TableResult(
                design.name,
                error=f"{_first_line(error)} (the log has the whole error; fix the cause, then "
                f"`sandbox lakehouse --table {design.name}` carries on from the last batch it applied)",
            )
        result.seconds = time.monotonic() - started
        log.info(result.summary())
        return result

    # -- one table -----------------------------------------------------------------------------

    def _apply(self, design: SilverTable, manifests: list[Manifest], full_refresh: bool) -> TableResult:
        target, result = self.table_name(design.name), TableResult(design.name)
        held = f"{self.quarantine}.{quoted(design.name)}"
        if full_refresh:
            self.spark.sql(f"DROP TABLE IF EXISTS {target}")
        mode, batches = self.backlog.pending(design.name, manifests)
        files = [
            f"s3a://{self.raw.bucket}/{key}" for m in batches for key in m.tables.get(design.name, TableFiles()).files
        ]
        keys = [raw_column(k) for k in design.keys]  # the job names columns as the raw zone does
        latest = None
        unchanged = sorted({c for m in batches for c in m.tables.get(design.name, TableFiles()).unchanged})
        if files:
            changes = self.spark.read.option("mergeSchema", "true").parquet(*files)
            if any("truncate" in m.tables.get(design.name, TableFiles()).ops for m in batches):
                changes = after_last_truncate(changes)
                mode = "replace"
        exists = self.spark.catalog.tableExists(target)
        stored = in_raw_names(self.spark.table(target)) if mode != "replace" and exists else None
        waiting = self._waiting(design, held, stored, keys) if stored is not None else None
        if not files and waiting is None:
            return result
        result.mode, result.batches = ("merge" if stored is not None else mode), len(batches)
        if files:
            # A snapshot holds each key once: no need to rank changes per key (a whole shuffle).
            only_snapshot = all(m.kind == "snapshot" for m in batches)
            latest = changes if only_snapshot else latest_per_key(changes, keys, unchanged, stored)
            latest = latest.withColumn(RETRIED, F.lit(False))
        if waiting is not None:
            retried = waiting.filter("_rank = 1").drop("_rank").withColumn(RETRIED, F.lit(True))
            unchanged = sorted({*unchanged, *(r[0] for r in retried.select(F.explode(KEEP)).distinct().collect())})
            latest = (
                _in_source_columns(retried, manifests, design.name)
                if latest is None
                else _with_retried(latest, retried, keys)
            )
        checked, rules = self._check(design, latest, stored)
        checked = checked.cache()
        counts = self._count(rules, checked)
        deletes, result.upserts = counts.pop("delete"), counts.pop("clean upserts")
        result.reentered = counts.pop("re-entered")
        result.deletes = deletes if stored is not None else 0  # a replace starts from nothing: none to apply
        result.quarantined = {rule: n for rule, n in counts.items() if n}
        if result.quarantined:
            broken = checked.filter((F.size("_broken") > 0) & ~F.col(RETRIED))  # a retried row has its records
            rechecked = {rule.name for rule in design.rules if rule.rechecked}
            columns = [c for c in latest.columns if c != RETRIED]
            record = broken.select(F.explode("_broken").alias("rule"), *columns)
            quarantine.record(self.spark, held, record, rechecked)
        clean = checked.filter(F.size("_broken") == 0).drop("_broken", UNKNOWN)
        result.schema_changes = evolve_table(
            self.spark,
            target,
            design,
            in_source_names(clean.drop(*PIPELINE_COLUMNS)).schema,
            TABLE_PROPERTIES,
            SchemaEvolutionError,
            replacing=stored is None,
        )
        bookmark = {BOOKMARK: str(batches[-1].end_lsn)} if batches else {}
        # before silver's commit: a rerun must never bring back a row the source changed since
        self._supersede(held, keys, waiting, checked, stored is None, batches)
        self.step("before_commit")  # tests stop the job here: quarantine written, silver not
        if stored is None:
            rows = in_source_names(clean.filter(F.col("_op") != "delete").drop(*PIPELINE_COLUMNS))
            data = _as_table(rows, self.spark.table(target))
            commit_with_properties(self.spark, bookmark, lambda: data.writeTo(target).overwrite(F.lit(True)))
        else:
            self._merge(target, design, clean, unchanged, bookmark)
        if result.reentered:
            entered = checked.filter(F.col(RETRIED) & (F.size("_broken") == 0))
            quarantine.settle(self.spark, held, entered.withColumn("state", F.lit(quarantine.ENTERED_SILVER)))
        checked.unpersist()
        return result

    def _waiting(self, design: SilverTable, held: str, stored: DataFrame, keys: list[str]) -> DataFrame | None:
        """The table's waiting rows of quarantine (None if none), for tables with a rechecked rule."""
        if not any(rule.rechecked for rule in design.rules):
            return None
        return quarantine.waiting_rows(self.spark, held, stored.schema, keys)

    def _supersede(
        self,
        held: str,
        keys: list[str],
        waiting: DataFrame | None,
        checked: DataFrame,
        replaced: bool,
        batches: list[Manifest],
    ) -> None:
        """Mark superseded the waiting rows this run's changes replace: every one when the table
        is copied anew; else those of keys changed again at the source, and older ones of a key."""
        if replaced:
            quarantine.supersede_all_but(self.spark, held, [m.batch_id for m in batches])
            return
        if waiting is None:
            return
        moved = F.lit(quarantine.SUPERSEDED).alias("state")
        new = checked.filter(~F.col(RETRIED))
        changed_again = waiting.join(new.select(*keys), keys, "left_semi").join(
            new.select("_lsn", "_seq"), ["_lsn", "_seq"], "left_anti"
        )
        older = waiting.filter("_rank > 1")
        quarantine.settle(self.spark, held, changed_again.unionByName(older).select("_lsn", "_seq", moved))

    def _merge(
        self, target: str, design: SilverTable, changes: DataFrame, unchanged: list[str], bookmark: dict[str, str]
    ) -> None:
        """One MERGE by key; a column in a row's `_keep` keeps the value silver holds (see changes.py).
        `changes` names columns as the job does, the target as the source does (`names.py`)."""
        view = quoted(f"changes_{design.name}")
        changes.createOrReplaceTempView(view)
        columns = [c for c in changes.columns if c not in PIPELINE_COLUMNS]

        def assigned(column: str) -> str:
            value, stored = f"s.{quoted(column)}", f"t.{quoted(source_column(column))}"
            if column in unchanged:
                value = f"CASE WHEN array_contains(s.{KEEP}, '{column}') THEN {stored} ELSE {value} END"
            return f"{stored} = {value}"

        assignments = ", ".join(assigned(c) for c in columns)
        names = ", ".join(quoted(source_column(c)) for c in columns)
        values = ", ".join(f"s.{quoted(c)}" for c in columns)
        on = " AND ".join(f"t.{quoted(k)} = s.{quoted(raw_column(k))}" for k in design.keys)
        statement = (
            f"MERGE INTO {target} t USING {view} s ON {on} "
            f"WHEN MATCHED AND s._op = 'delete' THEN DELETE "
            f"WHEN MATCHED THEN UPDATE SET {assignments} "
            f"WHEN NOT MATCHED AND s._op <> 'delete' THEN INSERT ({names}) VALUES ({values})"
        )
        commit_with_properties(self.spark, bookmark, lambda: self.spark.sql(statement))

    # -- quality -------------------------------------------------------------------------------

    def _check(self, design: SilverTable, latest: DataFrame, stored: DataFrame | None) -> tuple[DataFrame, list[str]]:
        """`latest` with `_broken`: the names of the rules each upsert breaks (empty if none),
        and the names of the rules checked.

        A foreign key is checked by looking up only the keys the changes refer to: the parent
        table is filtered by them (a small broadcast), never shuffled whole against the changes.
        So is the key of a row that keeps a value from silver (`_keep`): silver must hold it.
        """
        checked, broken, rules = latest, [], [rule.name for rule in design.rules]
        if KEEP in latest.columns:
            keeping = F.size(KEEP) > 0
            known = F.lit(False)
            if stored is not None:
                keys = [raw_column(k) for k in design.keys]
                wanted = latest.filter(keeping).select(*keys).distinct()
                held = stored.select(*keys).join(wanted, keys, "left_semi").withColumn("_held", F.lit(True))
                checked = checked.join(held, keys, "left")
                known = F.coalesce(F.col("_held"), F.lit(False))
            broken.append(F.when((keeping & ~known) | (F.size(UNKNOWN) > 0), F.lit(UNKNOWN_UNCHANGED)))
            rules.append(UNKNOWN_UNCHANGED)
        if UNREPRESENTABLE in latest.columns:  # a value the raw zone holds only as text (see replication/types.py)
            broken.append(F.when(F.size(UNREPRESENTABLE) > 0, F.lit(UNREPRESENTABLE_VALUE)))
            rules.append(UNREPRESENTABLE_VALUE)
        now = f"TIMESTAMP '{self.clock().astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}'"  # the session's time zone is UTC
        for rule in design.rules:
            if rule.violation:
                violation = F.expr(rule.violation.replace(NOW, now))
                broken.append(F.when(F.coalesce(violation, F.lit(False)), F.lit(rule.name)))
                continue
            parent_table, parent_key = rule.parent
            known = f"_known_{rule.column}"
            wanted = latest.select(F.col(rule.column).alias(known)).distinct()
            parent = self.spark.table(self.table_name(parent_table))
            parents = parent.select(F.col(quoted(parent_key)).alias(known))
            found = parents.join(wanted, known, "left_semi")
            checked = checked.join(found, checked[rule.column] == found[known], "left")
            broken.append(F.when(F.col(known).isNull(), F.lit(rule.name)))
        is_upsert = F.col("_op") != "delete"
        rules_broken = F.filter(F.array(*[F.when(is_upsert, name) for name in broken]), lambda name: name.isNotNull())
        return checked.select(*latest.columns, rules_broken.alias("_broken")), rules

    @staticmethod
    def _count(rules: list[str], checked: DataFrame) -> dict[str, int]:
        """Deletes, clean upserts and rows per broken rule, in one pass.

        A row breaking two rules counts for both; it is one row less among the clean upserts.
        A waiting row of quarantine checked again counts as quarantined once, when it was first.
        """
        is_clean_upsert = (F.col("_op") != "delete") & (F.size("_broken") == 0)
        sums = {
            "delete": F.col("_op") == "delete",
            "clean upserts": is_clean_upsert,
            "re-entered": is_clean_upsert & F.col(RETRIED),
            **{rule: F.array_contains("_broken", rule) & ~F.col(RETRIED) for rule in rules},
        }
        row = checked.agg(*[F.sum(when.cast("int")).alias(name) for name, when in sums.items()]).first()
        return {name: row[name] or 0 for name in sums}


def _with_retried(latest: DataFrame, retried: DataFrame, keys: list[str]) -> DataFrame:
    """This run's changes and the retried rows of keys they leave alone (a key changed again at
    the source: its newer change decides), in the changes' columns: a column silver keeps that
    the source dropped is not written."""
    for column in (KEEP, UNKNOWN):
        if column not in latest.columns:
            latest = latest.withColumn(column, F.lit(None).cast(ArrayType(StringType())))
    retried = retried.join(latest.select(*keys), keys, "left_anti")
    return latest.unionByName(
        retried.select(
            *[
                F.col(c) if c in retried.columns else F.lit(None).cast(latest.schema[c].dataType).alias(c)
                for c in latest.columns
            ]
        )
    )


def _in_source_columns(retried: DataFrame, manifests: list[Manifest], table: str) -> DataFrame:
    """The retried rows in the columns the source's table has now (the newest manifest's list):
    a column silver keeps that the source dropped is not written, as `_with_retried` does when
    this run has changes of the table too. Without a list (older manifests), every column."""
    schema = next((m.schemas[table] for m in reversed(manifests) if table in m.schemas), None)
    if schema is None:
        return retried
    return retried.select(*[c for c in retried.columns if source_column(c) in schema.columns or c in PIPELINE_COLUMNS])


def _as_table(rows: DataFrame, table: DataFrame) -> DataFrame:
    """`rows` with every column of `table`: one the source dropped stays in silver, NULL in new rows."""
    present = set(rows.columns)
    return rows.select(
        *[
            F.col(quoted(f.name)) if f.name in present else F.lit(None).cast(f.dataType).alias(f.name)
            for f in table.schema
        ]
    )


def _waves(designs: list[SilverTable]) -> list[list[SilverTable]]:
    """Tables grouped so that each one's foreign-key parents are in an earlier group."""
    depth: dict[str, int] = {}
    for design in designs:  # listed parents before children
        parents = [rule.parent[0] for rule in design.rules if rule.parent and rule.parent[0] in depth]
        depth[design.name] = 1 + max((depth[p] for p in parents), default=-1)
    return [[d for d in designs if depth[d.name] == level] for level in range(max(depth.values(), default=-1) + 1)]


def _first_line(error: Exception) -> str:
    """The line that says what went wrong: for an error from the JVM, its innermost cause (py4j's
    own first line only names the call that failed)."""
    java = getattr(error, "java_exception", None)
    if java is not None:
        while java.getCause() is not None:
            java = java.getCause()
        text = str(java.toString())
    else:
        text = f"{type(error).__name__}: {error}"
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(error).__name__]
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]  # "Error:\nwhy"
