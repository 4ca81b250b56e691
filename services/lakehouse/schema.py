"""Creates silver tables and evolves their schema as the source's changes.

New columns are added (Iceberg adds them without rewriting data: old rows read as null).
Safe widenings that Iceberg allows are applied in place: int -> bigint, float -> double,
decimal(p, s) -> decimal(p', s) with p' > p. Any other type change would lose or
misread data, so it raises the given error naming the table, column and both types.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.types import DataType, DecimalType, StructType

from services.lakehouse.design import KEY_PROPERTY, SilverTable, key_property
from services.lakehouse.names import quoted, sql_string

_WIDENINGS = {("int", "bigint"), ("float", "double")}


def _widens(old: DataType, new: DataType) -> bool:
    if isinstance(old, DecimalType) and isinstance(new, DecimalType):
        return new.scale == old.scale and new.precision > old.precision
    return (old.simpleString(), new.simpleString()) in _WIDENINGS


def _column_ddl(schema: StructType) -> str:
    return ", ".join(f"{quoted(field.name)} {field.dataType.simpleString()}" for field in schema.fields)


def evolve_table(
    spark: SparkSession,
    target: str,
    design: SilverTable,
    incoming: StructType,
    properties: dict[str, str],
    error: type[Exception],
    replacing: bool = False,
) -> list[str]:
    """Create `target` for `incoming` rows, or evolve it to take them; return what changed.

    `replacing`: every row is about to be written anew (the source's table was copied anew, as
    replication does after a type change), so a column whose type changed in a way Iceberg cannot
    widen is dropped and added again under its new type instead of stopping the table."""
    keyed = {**properties, KEY_PROPERTY: key_property(design.keys)}
    if not spark.catalog.tableExists(target):
        props = ", ".join(f"{sql_string(k)}={sql_string(v)}" for k, v in keyed.items())
        partitioning = f"PARTITIONED BY ({design.partitioned_by}) " if design.partitioned_by else ""
        spark.sql(
            f"CREATE TABLE {target} ({_column_ddl(incoming)}) USING iceberg {partitioning}TBLPROPERTIES ({props})"
        )
        # LOCALLY: sort within tasks and keep the hash distribution (plain ORDERED BY switches it to range).
        spark.sql(f"ALTER TABLE {target} WRITE LOCALLY ORDERED BY {', '.join(map(quoted, design.ordered_by))}")
        return [f"created {target}"]
    current = {field.name: field.dataType for field in spark.table(target).schema.fields}
    changes = []
    if spark.sql(f"SHOW TBLPROPERTIES {target} ('{KEY_PROPERTY}')").first().value != keyed[KEY_PROPERTY]:
        spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ('{KEY_PROPERTY}'={sql_string(keyed[KEY_PROPERTY])})")
    for field in incoming.fields:
        old = current.get(field.name)
        if old is None:
            spark.sql(f"ALTER TABLE {target} ADD COLUMN {quoted(field.name)} {field.dataType.simpleString()}")
            changes.append(f"added {field.name} {field.dataType.simpleString()}")
        elif old.simpleString() != field.dataType.simpleString():  # nullability aside
            if not _widens(old, field.dataType) and replacing:
                spark.sql(f"ALTER TABLE {target} DROP COLUMN {quoted(field.name)}")
                spark.sql(f"ALTER TABLE {target} ADD COLUMN {quoted(field.name)} {field.dataType.simpleString()}")
                changes.append(f"retyped {field.name} {old.simpleString()} -> {field.dataType.simpleString()}")
                continue
            if not _widens(old, field.dataType):
                raise error(
                    f"{target}.{field.name} changed from {old.simpleString()} to {field.dataType.simpleString()} "
                    "in the source, which Iceberg cannot apply without rewriting or losing data; this table "
                    "stops until the column is migrated (e.g. a new column, then `sandbox lakehouse "
                    f"--table {design.name} --full-refresh`)"
                )
            spark.sql(f"ALTER TABLE {target} ALTER COLUMN {quoted(field.name)} TYPE {field.dataType.simpleString()}")
            changes.append(f"widened {field.name} {old.simpleString()} -> {field.dataType.simpleString()}")
    return changes
