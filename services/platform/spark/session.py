"""The Spark session factory (the Databricks role): Iceberg over the REST catalog and S3FileIO.

Jars come from PyPI wheels (see `services/platform/local/toolchain.py`), so no Maven download happens at start; a driver
that runs its executors itself loads them from one merged jar (`home.py`) and maps a
class archive (`class_archive.py`): a 10k-change silver tick runs in two thirds of the time.
Starting a JVM takes seconds: callers create one session per job or test session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

import psutil
from pyspark import SparkContext
from pyspark.sql import SparkSession

from services.platform.catalog import CATALOG_NAME
from services.platform.local import toolchain
from services.platform.settings import Settings
from services.platform.spark import class_archive
from services.platform.spark import home as spark_home

ANONYMOUS_SDK_CREDENTIALS = "software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider"


def spark_conf(settings: Settings) -> dict[str, str]:
    """Every Spark setting the sandbox uses, in one dict (printed by `sandbox env`)."""
    aws, prefix = settings.aws, f"spark.sql.catalog.{CATALOG_NAME}"
    conf = {
        "spark.master": settings.spark.master,
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",  # the CLI prints its own progress and summaries
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.defaultCatalog": CATALOG_NAME,
        "spark.sql.session.timeZone": "UTC",
        # Postgres tells `Name` from `name`, and so must silver (`services/lakehouse/names.py`)
        "spark.sql.caseSensitive": "true",
        # Postgres, pyarrow (the raw zone) and Iceberg all count days in the proleptic Gregorian
        # calendar: dates and times before 1582 are read and written as they are, not rebased
        # (Spark's default refuses them, asking whether files came from Spark 2's hybrid calendar).
        "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "rest",
        f"{prefix}.uri": settings.catalog.uri,
        f"{prefix}.warehouse": settings.catalog.warehouse,
        f"{prefix}.rest.auth.type": "sigv4" if settings.s3.signed else "none",
        f"{prefix}.rest.signing-name": settings.catalog.signing_name,
        f"{prefix}.rest.signing-region": aws.region,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.client.region": aws.region,
        f"{prefix}.http-client.type": "urlconnection",
    }
    if settings.spark.master.startswith("local"):
        conf |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    if settings.spark.cores_max is not None:
        conf["spark.cores.max"] = str(settings.spark.cores_max)
    if driver_spark_home(settings) is None:  # else the merged jar holds Iceberg and AWS too
        conf["spark.jars"] = ",".join(str(jar) for jar in toolchain.spark_jars())
    # s3a:// reads the raw zone's plain Parquet files; Iceberg tables go through S3FileIO above,
    # except remove_orphan_files, which lists table locations (s3://) with a Hadoop filesystem.
    conf["spark.hadoop.fs.s3a.endpoint.region"] = aws.region
    conf["spark.hadoop.fs.s3.impl"] = "org.apache.hadoop.fs.s3a.S3AFileSystem"
    if settings.s3.endpoint_url:
        conf |= {
            f"{prefix}.s3.endpoint": settings.s3.endpoint_url,
            f"{prefix}.s3.path-style-access": "true",
            "spark.hadoop.fs.s3a.endpoint": settings.s3.endpoint_url,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3.endpoint_url.startswith("https")).lower(),
        }
    if not settings.s3.signed:
        conf |= {
            f"{prefix}.client.credentials-provider": ANONYMOUS_SDK_CREDENTIALS,
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider",
        }
    elif keys := aws.keys():
        key, secret = keys
        conf |= {
            f"{prefix}.rest.access-key-id": key,
            f"{prefix}.rest.secret-access-key": secret,
            f"{prefix}.s3.access-key-id": key,
            f"{prefix}.s3.secret-access-key": secret,
            "spark.hadoop.fs.s3a.access.key": key,
            "spark.hadoop.fs.s3a.secret.key": secret,
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        }
    return conf


def driver_spark_home(settings: Settings) -> Path | None:
    """The one-jar SPARK_HOME (see `home.py`) when the executors run in the driver's JVM."""
    return spark_home.installed() if settings.spark.master.startswith("local") else None


def driver_class_archive(home: Path | None) -> Path:
    """The class archive (see `class_archive.py`) for the driver's Java and class path."""
    return class_archive.archive_path(toolchain.java_home(), spark_home.driver_classpath(home))


# A cold JVM spends most of a small job compiling: at a 10k-change silver tick the JIT used
# 44 s of CPU on two cores, 30 s of it in the optimising C2 compiler. Stopping at the quick
# C1 tier made that tick 30-35% faster, but the 1M-order initial load 45% slower (47 -> 70 s);
# the serial collector, the JVM's choice for small heaps, saved another second or two.
QUICK_START_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
log = logging.getLogger(__name__)


def spark_session(
    settings: Settings, app_name: str = "pipeline-sandbox", quick_start: bool = False, nice: int | None = None
) -> SparkSession:
    """Get or create the process's Spark session, configured for the lakehouse.

    `quick_start` is for a process whose Spark work is small (a tick, the tests): its JVM
    compiles only with the quick C1 tier. `nice` is the JVM's CPU priority (default
    `settings.spark.nice`). Both take effect when the JVM starts, i.e. for the first session of
    a process, as does the class archive (see `class_archive.py`).
    """
    os.environ.setdefault("JAVA_HOME", str(toolchain.java_home()))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    conf = spark_conf(settings)
    java_options = [QUICK_START_JAVA_OPTIONS] if quick_start else []
    starts_jvm = SparkContext._gateway is None
    home = driver_spark_home(settings)
    if home is not None:
        os.environ["SPARK_HOME"] = str(home)
    if starts_jvm and settings.spark.class_archive:
        java_options += class_archive.java_options(driver_class_archive(home))
    if java_options:
        conf["spark.driver.extraJavaOptions"] = " ".join(java_options)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if starts_jvm:
        jvm = getattr(SparkContext._gateway, "proc", None)
        class_archive.keep_when_jvm_exits(jvm)
        if jvm is not None:
            _set_priority(jvm.pid, settings.spark.nice if nice is None else nice)
    session.sparkContext.setLogLevel("WARN")
    return session


def _set_priority(pid: int, nice: int) -> None:
    """Give the JVM `nice`. Linux keeps a priority per thread: each running thread gets it, and
    the threads the JVM starts later inherit it from theirs. A thread that ends between the listing
    and its turn is skipped, not taken for a failure: the rest still get `nice`. Where it cannot be
    set, say so."""
    if nice == 0:
        return
    try:
        jvm = psutil.Process(pid)
        jvm.nice(nice)
        if sys.platform == "linux":
            for thread in jvm.threads():
                with contextlib.suppress(ProcessLookupError):
                    os.setpriority(os.PRIO_PROCESS, thread.id, nice)
    except (psutil.Error, OSError) as error:
        log.warning("could not set the Spark JVM's priority to nice %d: %s", nice, error)
