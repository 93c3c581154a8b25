"""Run the app under gunicorn from `casework serve` (no separate config file needed)."""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any

from gunicorn.app.base import BaseApplication

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# A body up to this size is buffered in memory; a larger one spills to a temporary file.
SPOOL_BYTES = 1 << 20
READ_CHUNK = 1 << 16


class BufferedOneAtATime:
    """Read each request's body first, then run the app one request at a time per process.

    For threaded workers on SQLite. Every write there passes one database-wide lock, and a
    thread holding it must win the GIL back after each statement; with sibling threads of
    its process busy parsing the next submissions it waits up to a switch interval (5 ms)
    each time, and every writer on the machine waits with it. Running the app for one
    request at a time per process removes that contention (the ingest benchmark: about 10%
    more submissions per second and a shorter tail), while the threads still read slow
    uploads, write responses and keep idle connections side by side, so a phone on a weak
    signal holds up no one. On PostgreSQL there is no such lock and requests wait on the
    network, so threads run the app concurrently there.
    """

    def __init__(self, app: WSGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._buffer_body(environ)
        with self.lock:
            # A streamed response (an export) is produced after this returns, outside the
            # lock: it only reads.
            return self.app(environ, start_response)

    def _buffer_body(self, environ: dict[str, Any]) -> None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return  # the app answers the malformed header
        if length <= 0 or length > self.max_body_bytes:
            return  # nothing to read, or the app refuses it before reading it
        source = environ["wsgi.input"]
        buffered: IO[bytes] = (
            io.BytesIO()
            if length <= SPOOL_BYTES
            else tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (lives as long as the request)
        )
        remaining = length
        while remaining:
            chunk = source.read(min(READ_CHUNK, remaining))
            if not chunk:
                break  # the client went away: the app sees a short body and says so
            buffered.write(chunk)
            remaining -= len(chunk)
        buffered.seek(0)
        environ["wsgi.input"] = buffered


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    overrides: dict[str, Any] | None = None  # settings each worker's app takes over the config

    def __init__(self, options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self.options = options
        self.overrides = overrides or None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app

        app = create_app(self.overrides)
        if self.options["threads"] > 1 and app.config["DATABASE_URL"].startswith("sqlite"):
            app.wsgi_app = BufferedOneAtATime(  # type: ignore[method-assign]
                app.wsgi_app, int(app.config["MAX_CONTENT_LENGTH"])
            )
        return app


def run(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    overrides: dict[str, Any] | None = None,
) -> None:
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            # Collect waits 60 s for an answer; a stuck worker is recycled before that.
            "timeout": 55,
            "accesslog": "-",
            "preload_app": False,
        },
        overrides,
    ).run()
