"""Run the app under gunicorn from `casework serve` (no separate config file needed)."""

from __future__ import annotations

import gc
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
# A body over the limit is still read (and thrown away) after the app has refused it, up to
# the limit and at least this much, so that a client that sends its whole body before it
# reads (most do) gets the 413 instead of a reset connection. Beyond that it is cut off.
MIN_DRAIN_BYTES = 64 << 20


class BufferedOneAtATime:
    """Read each request's body first, then run the app, one request at a time per process
    when ``one_at_a_time``.

    For threaded workers on SQLite. Every write there passes one database-wide lock, and a
    thread holding it must win the GIL back after each statement; with sibling threads of
    its process busy parsing the next submissions it waits up to a switch interval (5 ms)
    each time, and every writer on the machine waits with it. Running the app for one
    request at a time per process removes that contention (the ingest benchmark: about 10%
    more submissions per second and a shorter tail), while the threads still read slow
    uploads, write responses and keep idle connections side by side, so a phone on a weak
    signal holds up no one. On PostgreSQL there is no such lock and requests wait on the
    network, so threads run the app concurrently there.

    Every body, whether it has a Content-Length or is chunked, on every route, is read
    before the app runs (so a slow one holds its own thread, never the app), up to
    ``max_body_bytes``. A larger one is not kept: the app sees its length over the limit
    and refuses it unread, and what the client still sends is drained after.
    """

    def __init__(self, app: WSGIApp, max_body_bytes: int, *, one_at_a_time: bool = True) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.drain_bytes = max(max_body_bytes, MIN_DRAIN_BYTES)
        self.one_at_a_time = one_at_a_time
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        source = environ.get("wsgi.input")
        self._buffer_body(environ)
        if self.one_at_a_time:
            with self.lock:
                # A streamed response (an export) is produced after this returns, outside
                # the lock: it only reads.
                result = self.app(environ, start_response)
        else:
            result = self.app(environ, start_response)
        if source is not None and environ.get("wsgi.input") is source:
            self._drain(source)  # answered without reading it all (a 413, a 401, …)
        return result

    def _buffer_body(self, environ: dict[str, Any]) -> None:
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if chunked:
            length = self.max_body_bytes + 1  # read until it ends, or one byte too many
        else:
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
                break  # the end, or the client went away: the app sees a short body
            buffered.write(chunk)
            remaining -= len(chunk)
        if chunked:
            # From here on the body has a length, which the app checks against its limits.
            received = length - remaining
            del environ["HTTP_TRANSFER_ENCODING"]
            environ["CONTENT_LENGTH"] = str(received)
            if received > self.max_body_bytes:  # too large: the app refuses it unread
                buffered.close()
                environ["wsgi.input"] = source
                return
        buffered.seek(0)
        environ["wsgi.input"] = buffered

    def _drain(self, source: Any) -> None:
        remaining = self.drain_bytes
        while remaining > 0:
            try:
                chunk = source.read(min(READ_CHUNK, remaining))
            except (OSError, ValueError):
                return  # the client went away, or sent a broken chunk
            if not chunk:
                return
            remaining -= len(chunk)


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
        app.wsgi_app = BufferedOneAtATime(  # type: ignore[method-assign]
            app.wsgi_app,
            int(app.config["MAX_CONTENT_LENGTH"]),
            one_at_a_time=(
                self.options["threads"] > 1 and app.config["DATABASE_URL"].startswith("sqlite")
            ),
        )
        return app


def _collect_then_freeze() -> None:
    """Collect the garbage, then freeze what lives on out of the full collections:
    freezing right after a collection leaves the garbage out."""
    gc.collect()
    gc.freeze()


def freeze_loaded_app(_worker: Any) -> None:
    """gunicorn's ``post_worker_init``: what loading the app made lives as long as the
    worker, so it is collected once and frozen out of the full collections, which otherwise
    walk its objects (60 ms, every few case pages) for nothing."""
    _collect_then_freeze()


# After these many requests a worker has filled its long-lived caches (compiled statements,
# templates, catalogues, the forms' words): it then collects once and freezes what is left.
FREEZE_AFTER_REQUESTS = (50, 500)


class FreezeWhenWarm:
    """Counts a worker's requests (gunicorn's ``post_request``) and, at each of
    :data:`FREEZE_AFTER_REQUESTS`, collects the garbage then freezes what lives on.

    A full collection walks every object the process tracks. Loading the app is frozen
    by :func:`freeze_loaded_app`, but the caches the first requests fill (150 000 objects on
    a server that has shown each page a few times) made every full collection take
    45–90 ms, paid by one request in seven. Frozen, they are walked no more. Freezing
    right after a collection leaves out the garbage; an object of a request running at
    that moment on another thread, if it is in a cycle, stays for the worker's life
    (twice per worker, a few objects)."""

    def __init__(self, milestones: tuple[int, ...] = FREEZE_AFTER_REQUESTS) -> None:
        self.milestones = frozenset(milestones)
        self.served = 0
        self.lock = threading.Lock()

    def __call__(self, _worker: Any, _request: Any, _environ: Any, _response: Any) -> None:
        with self.lock:
            self.served += 1
            due = self.served in self.milestones
        if due:
            _collect_then_freeze()


def run(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    trust_proxy: bool = False,
    overrides: dict[str, Any] | None = None,
) -> None:
    """``trust_proxy``: X-Forwarded-Proto is believed from a proxy on this machine (then the
    app's ProxyFix reads the forwarded headers); otherwise gunicorn believes it from no one,
    so a request over plain HTTP is never taken for HTTPS."""
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
            "post_worker_init": freeze_loaded_app,
            "post_request": FreezeWhenWarm(),
            **({} if trust_proxy else {"forwarded_allow_ips": "", "secure_scheme_headers": {}}),
        },
        overrides,
    ).run()
