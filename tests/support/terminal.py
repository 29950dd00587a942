"""Running a command with its stderr on a pseudo-terminal, as a person's shell would."""

from __future__ import annotations

import os
import pty
import select
import subprocess

__all__ = ["run_on_a_terminal"]


def run_on_a_terminal(args: list[str], *, ci: str | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run ``args`` with stderr on a pseudo-terminal; returns (exit code, what the terminal
    showed). ``CI`` is removed from the environment unless ``ci`` gives its value."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
