"""A sync's load worker: ``python -m nestor_catalog_server.sync._load_worker`` (see ``_loaders``).

It imports only what loading needs (core's loading and the git mirror), answers the server
on its standard output and ends when its standard input closes (the server is done or gone).
"""

from __future__ import annotations

import signal
import sys

from nestor_catalog_server.sync._loaders import serve_requests


def main() -> None:
    # The server stops it (closing its input); a Ctrl-C meant for the server must not print a
    # traceback here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve_requests(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
