"""Serve the review page on 127.0.0.1 with a random token (``glmm-exercises review``).

The URL with its token is printed on a line of its own before serving; Ctrl-C or SIGTERM stops
the server cleanly (the request being answered finishes; every saved grade is already in the
database, each write being its own transaction).
"""

from __future__ import annotations

import secrets
import signal
import socket
import sys
import threading
from typing import TextIO

from werkzeug.serving import make_server

from glmm_exercises.review.app import ReviewApp
from glmm_exercises.review.folder import GradingFolder, ReviewError

__all__ = ["HOST", "serve"]

HOST = "127.0.0.1"


def serve(folder: GradingFolder, port: int = 0, *, out: TextIO | None = None, token: str | None = None) -> int:
    """Serve ``folder`` until interrupted; ``port`` 0 picks a free port. Returns an exit code."""
    out = out or sys.stdout
    token = token or secrets.token_urlsafe(24)
    app = ReviewApp(folder, token)
    problem = ""
    try:  # werkzeug would print its own lines and exit: say it once, as every other error
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((HOST, port))
        server = make_server(HOST, port, app, threaded=True)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    except SystemExit:
        problem = "the port is taken"
    if problem:
        raise ReviewError(f"cannot listen on {HOST}:{port} ({problem}); choose another --port or leave it out")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, on_signal)
    print(f"review of {folder.dir} ({len(folder.items)} manual items, {len(folder.graded_students())} graded "
          "students); open this URL, Ctrl-C stops:", file=out)
    print(f"http://{HOST}:{server.port}/?token={token}", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    print("review stopped; grades are saved in " + str(folder.dir / "review.sqlite"), file=out, flush=True)
    return 0
