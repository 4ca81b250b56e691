"""Hosting the local profile: every server a process from a pip or npm package (`servers.py`
lists them), started and watched by `supervisor.py`, from tools `toolchain.py` installs."""
