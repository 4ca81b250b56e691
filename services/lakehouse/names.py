"""Column names in silver's job and in silver tables, and how the two meet.

Silver's job works on rows as the raw zone names their columns (`raw_zone.raw_column`): a source
column can then never collide with the job's own columns (`_op`, `_keep`, `_known_<column>`, ...)
nor be read by Spark as a path (a dot) or a quote, and the job's SQL can name it plainly. Silver
tables hold the source's own names, whatever Postgres accepted; every statement on them quotes
those names. Spark compares names with their case (`spark.sql.caseSensitive`), as Postgres does.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from services.replication.raw_zone import raw_column, source_column


def quoted(name: str) -> str:
    """`name` as a Spark SQL identifier, whatever it holds."""
    return "`" + name.replace("`", "``") + "`"


def sql_string(text: str) -> str:
    """`text` as a Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def in_raw_names(frame: DataFrame) -> DataFrame:
    """A silver table's rows with the job's names for its columns."""
    return frame.select(*[F.col(quoted(c)).alias(raw_column(c)) for c in frame.columns])


def in_source_names(frame: DataFrame) -> DataFrame:
    """The job's rows with the source's names for their columns, as silver tables hold them."""
    return frame.select(*[F.col(quoted(c)).alias(source_column(c)) for c in frame.columns])
