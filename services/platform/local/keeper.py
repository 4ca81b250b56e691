"""Keeps one local service running: the process the supervisor starts for each service.

`Supervisor.start` runs `python -m services.platform.local.keeper ... -- <service command>`.
The keeper starts the service's command in its own process group, writes the command's
output to the service's log (rotated at a size, the last few kept), and when the command
dies starts it again after a back-off (1, 2, 4 ... 60 s; a run that lasted a minute resets
it), with a line in the log and the count in a small state file `sandbox status` reads.

A command that ends before the supervisor saw it answer (it creates `--ready-flag` then) is
a failed start, not a crash: the keeper then exits with the command's code, so `sandbox up`
fails at once and shows the log.
The supervisor stops a service by signalling the whole group (keeper and command alike);
the keeper then waits for the command and exits without restarting it.

Standard library only, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

MAX_BACKOFF_SECONDS = 60.0
STABLE_AFTER_SECONDS = 60.0  # a run this long resets the back-off


def _log_writer(path: Path, max_bytes: int, keep: int) -> logging.Logger:
    """A logger that writes lines as they are to `path`, rotated at `max_bytes`, `keep` old files kept."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=keep, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.terminator = ""  # the service's own lines carry their newline
    writer = logging.getLogger(f"keeper.{path}")
    writer.propagate = False
    writer.addHandler(handler)
    writer.setLevel(logging.INFO)
    return writer


def _pump(stream: IO[bytes], writer: logging.Logger) -> None:
    """Copy a command's output into the log until every process holding the pipe has closed it."""
    for line in iter(stream.readline, b""):
        writer.info(line.decode("utf-8", errors="replace"))
    stream.close()


class Keeper:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.writer = _log_writer(Path(options.log), options.log_max_bytes, options.log_keep)
        self.state_path = Path(options.state)
        self.stopping = threading.Event()
        self.restarts = 0
        self.pump: threading.Thread | None = None

    def say(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        self.writer.info(f"[sandbox keeper {stamp} UTC] {self.options.name}: {message}\n")

    def write_state(self, child: int | None, last_exit: int | None) -> None:
        state = {"restarts": self.restarts, "child_pid": child, "last_exit": last_exit}
        partial = self.state_path.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        partial.replace(self.state_path)

    def spawn(self) -> subprocess.Popen[bytes]:
        identity = {}
        if self.options.uid is not None:
            identity = {"user": self.options.uid, "group": self.options.uid, "extra_groups": []}
        child = subprocess.Popen(
            self.options.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **identity,
        )
        self.pump = threading.Thread(target=_pump, args=(child.stdout, self.writer), daemon=True)
        self.pump.start()
        return child

    def run(self) -> int:
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, lambda *_: self.stopping.set())
        failures = 0
        ready_flag = Path(self.options.ready_flag)
        while True:
            started = time.monotonic()
            child = self.spawn()
            self.write_state(child.pid, None)
            code = child.wait()
            lasted = time.monotonic() - started
            self.write_state(None, code)
            if self.pump:
                self.pump.join(timeout=2)  # its last lines, unless a straggler still holds the pipe
            if self.stopping.is_set():
                return 0
            if not self.options.restart or not ready_flag.exists():
                before = "" if ready_flag.exists() else ", before it was ready"
                self.say(f"exited with code {code} after {lasted:.1f} s{before}; not started again")
                return code if code >= 0 else 128 - code  # as a shell reports a death by signal
            failures = 1 if lasted >= STABLE_AFTER_SECONDS else failures + 1
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (failures - 1))
            self.restarts += 1
            self.say(f"exited with code {code} after {lasted:.0f} s; restart {self.restarts} in {delay:.0f} s")
            if self.stopping.wait(delay):
                return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keeper", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the service's name, for the log's lines")
    parser.add_argument("--log", required=True, help="the service's log file")
    parser.add_argument("--state", required=True, help="where the restart count is kept (JSON)")
    parser.add_argument("--log-max-bytes", type=int, default=10 * 1024 * 1024, help="rotate the log at this size")
    parser.add_argument("--log-keep", type=int, default=3, help="how many rotated logs to keep")
    parser.add_argument("--ready-flag", required=True, help="exists once the service answered; before, no restarts")
    parser.add_argument("--no-restart", dest="restart", action="store_false", help="never start the command again")
    parser.add_argument("--uid", type=int, default=None, help="run the command under this uid and its group")
    parser.add_argument("command", nargs="+", help="the service's command, after --")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return Keeper(parse(sys.argv[1:] if argv is None else argv)).run()


if __name__ == "__main__":
    sys.exit(main())
