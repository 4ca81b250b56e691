"""A SPARK_HOME whose class path is one jar: Spark's, Iceberg's and the AWS jars merged.

Spark's driver looks classes and resources up in every jar of its class path, in turn, and a
name found nowhere (py4j resolving `functions`, Hadoop looking for `core-site.xml`, Janino
resolving generated code's names; thousands per run) is looked for in all 300 jars. With one
jar each lookup is one index probe. Measured at a 10k-change silver tick, with the class archive
(`class_archive.py`) in both runs: 17 -> 14.5 s, the driver JVM's CPU 33 -> 20 s. Spark shipped
such an assembly jar itself until 2.0.

`sandbox setup` builds it once (~25 s, ~420 MB); `session.py` uses it when the executors run in the
driver's JVM (a `local[...]` master). Executors elsewhere (the compose profile's cluster)
receive the separate jars through `spark.jars` as before.

Merging follows the class path's rule, the first jar holding a name wins, with two exceptions:
`META-INF/services` files are concatenated (each lists providers of its own jar), and signature
and jar-index files are dropped (they describe the jars they came from). log4j-core goes first so
that its plugin index is the one kept (the other copies belong to Hive and the log4j 1 bridge,
which the sandbox does not use).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from services.platform.local import toolchain

SERVICES = "META-INF/services/"
_DROPPED_SUFFIXES = (".SF", ".RSA", ".DSA", ".EC")
_DROPPED = {"META-INF/MANIFEST.MF", "META-INF/INDEX.LIST"}
_FIRST = ("log4j-core-",)
MANIFEST = "Manifest-Version: 1.0\nMulti-Release: true\nCreated-By: pipeline-sandbox spark/home.py\n\n"
MERGED_JAR = "sandbox-classpath.jar"
MERGE_LAYOUT = 1  # bump when the rules above change, so `sandbox setup` merges again


def source_jars() -> list[Path]:
    """The jars merged, in class-path order (log4j-core first, then Spark's, Iceberg's, AWS's)."""
    spark = sorted(toolchain.pyspark_jars(), key=lambda jar: (not jar.name.startswith(_FIRST), jar.name))
    return spark + toolchain.spark_jars()


def home_dir(jars: list[Path]) -> Path:
    """Where the SPARK_HOME built from these jars lives (named by their paths, sizes and times)."""
    name = toolchain.fingerprint(jars, f"layout {MERGE_LAYOUT}".encode())
    return toolchain.install_folder(f"spark-home-{name}")


def installed() -> Path | None:
    """The merged SPARK_HOME when `sandbox setup` built it for the installed jars, else None.

    None too when the user set SPARK_HOME to a Spark of their own.
    """
    try:
        home = home_dir(source_jars())
    except toolchain.ToolchainError:
        return None
    if os.environ.get("SPARK_HOME", str(home)) != str(home):
        return None
    return home if (home / "jars" / MERGED_JAR).exists() else None


def driver_classpath(home: Path | None) -> list[Path]:
    """The jars the driver JVM loads classes from: the merged one, or Spark's plus `spark.jars`."""
    if home is not None:
        return [home / "jars" / MERGED_JAR]
    own = os.environ.get("SPARK_HOME")
    spark = sorted((Path(own) / "jars").glob("*.jar")) if own else toolchain.pyspark_jars()
    return spark + toolchain.spark_jars()


def install() -> Path:
    """Build the merged SPARK_HOME; a no-op when it is there. Older builds are removed."""
    jars = source_jars()
    home = home_dir(jars)
    if (home / "jars" / MERGED_JAR).exists():
        return home
    for old in home.parent.glob("spark-home-*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = home.with_name(home.name + ".partial")
    (staging / "jars").mkdir(parents=True)
    for entry in ("bin", "python"):  # spark-submit and the Python worker files stay pyspark's
        (staging / entry).symlink_to(toolchain.pyspark_home() / entry)
    merge_jars(jars, staging / "jars" / MERGED_JAR)
    staging.rename(home)  # the whole folder appears at once, or not at all
    return home


def merge_jars(jars: list[Path], target: Path) -> int:
    """Write one jar holding every entry of `jars` by the rules above; return the entry count."""
    written: set[str] = set()
    services: dict[str, list[bytes]] = {}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as merged:
        merged.writestr("META-INF/MANIFEST.MF", MANIFEST)
        for jar in jars:
            with zipfile.ZipFile(jar) as source:
                for entry in source.infolist():
                    name = entry.filename
                    if entry.is_dir() or name in written or _dropped(name):
                        continue
                    if name.startswith(SERVICES):
                        services.setdefault(name, []).append(source.read(entry).rstrip(b"\n"))
                        continue
                    written.add(name)
                    merged.writestr(name, source.read(entry))
        for name, parts in services.items():
            merged.writestr(name, b"\n".join(parts) + b"\n")
    return len(written) + len(services)


def _dropped(name: str) -> bool:
    upper = name.upper()
    return name in _DROPPED or (upper.startswith("META-INF/") and upper.endswith(_DROPPED_SUFFIXES))
