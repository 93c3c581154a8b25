"""The gunicorn wiring: on SQLite, bodies are read side by side and the app runs one
request at a time per process."""

from __future__ import annotations

import io
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from server.wsgi_server import BufferedOneAtATime, _Gunicorn


class _Recorder:
    """A WSGI app that notes what it read and how many requests it ran at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.running = 0
        self.most_at_once = 0
        self.bodies: list[bytes] = []
        self.inputs: list[Any] = []  # the body streams the app was given
        self.guard = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.guard:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.inputs.append(environ["wsgi.input"])
        body = environ["wsgi.input"].read()
        time.sleep(self.pause)
        with self.guard:
            self.bodies.append(body)
            self.running -= 1
        start_response("200 OK", [])
        return [b"ok"]


class _TrickleInput:
    """A request body arriving slowly: each read waits for ``gate``."""

    def __init__(self, body: bytes, gate: threading.Event) -> None:
        self.stream = io.BytesIO(body)
        self.gate = gate

    def read(self, size: int = -1) -> bytes:
        self.gate.wait(timeout=10)
        return self.stream.read(size)


def _environ(body: bytes, stream: Any = None, length: int | None = None) -> dict[str, Any]:
    return {
        "CONTENT_LENGTH": str(len(body) if length is None else length),
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
    }


def _chunked(body: bytes, stream: Any = None) -> dict[str, Any]:
    """As gunicorn hands over a chunked body: no length, a stream that ends with the body."""
    return {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
    }


class _Refuser:
    """A WSGI app that answers at once without reading the body, noting what it was told."""

    def __init__(self) -> None:
        self.lengths: list[str | None] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.lengths.append(environ.get("CONTENT_LENGTH"))
        start_response("413 Request Entity Too Large", [])
        return [b"too large"]


def _call(app: Any, environ: dict[str, Any]) -> list[bytes]:
    return list(app(environ, lambda *_: None))


def test_the_app_reads_a_buffered_copy_of_the_whole_body_in_memory_or_spooled():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=10 << 20)
    small, large = b"<data/>", bytes(range(256)) * 8192  # 2 MiB: spooled to a file
    sent = [_environ(small), _environ(large)]
    originals = [e["wsgi.input"] for e in sent]
    for environ in sent:
        _call(app, environ)
    assert recorder.bodies == [small, large]
    assert recorder.inputs[0] is not originals[0]
    assert isinstance(recorder.inputs[0], io.BytesIO)
    assert isinstance(recorder.inputs[1], tempfile.SpooledTemporaryFile)


def test_a_body_cut_short_reaches_the_app_short():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=1 << 20)
    _call(app, _environ(b"abc", length=10))  # the client promised 10 bytes and left
    assert recorder.bodies == [b"abc"]


def test_a_body_over_the_limit_is_left_for_the_app_to_refuse_unread():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=4)
    stream = io.BytesIO(b"too long")
    _call(app, _environ(b"too long", stream=stream))
    assert recorder.inputs == [stream]  # the app reads (or refuses) the original itself


def test_requests_run_the_app_one_at_a_time():
    recorder = _Recorder(pause=0.05)
    app = BufferedOneAtATime(recorder, max_body_bytes=1 << 20)
    threads = [threading.Thread(target=_call, args=(app, _environ(b"x" * n))) for n in range(1, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(recorder.bodies) == 5
    assert recorder.most_at_once == 1


def test_a_slow_upload_does_not_hold_up_other_requests():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=1 << 20)
    gate = threading.Event()
    slow = threading.Thread(
        target=_call, args=(app, _environ(b"slow", stream=_TrickleInput(b"slow", gate)))
    )
    slow.start()
    time.sleep(0.05)  # the slow request is reading its body
    quick = threading.Thread(target=_call, args=(app, _environ(b"quick")))
    quick.start()
    quick.join(timeout=2)
    finished_while_slow_was_reading = not quick.is_alive()
    gate.set()
    slow.join(timeout=5)
    assert finished_while_slow_was_reading
    assert recorder.bodies == [b"quick", b"slow"]


def test_a_chunked_body_is_read_before_the_app_and_given_a_length():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=1 << 20)
    original = io.BytesIO(b"username=a&password=b")
    environ = _chunked(b"", stream=original)
    _call(app, environ)
    assert recorder.bodies == [b"username=a&password=b"]
    assert recorder.inputs[0] is not original
    assert environ["CONTENT_LENGTH"] == "21"
    assert "HTTP_TRANSFER_ENCODING" not in environ


def test_a_slow_chunked_body_does_not_hold_up_other_requests():
    recorder = _Recorder()
    app = BufferedOneAtATime(recorder, max_body_bytes=1 << 20)
    gate = threading.Event()
    slow = threading.Thread(
        target=_call, args=(app, _chunked(b"", stream=_TrickleInput(b"slow", gate)))
    )
    slow.start()
    time.sleep(0.05)  # the slow request is reading its body
    quick = threading.Thread(target=_call, args=(app, _chunked(b"quick")))
    quick.start()
    quick.join(timeout=2)
    finished_while_slow_was_reading = not quick.is_alive()
    gate.set()
    slow.join(timeout=5)
    assert finished_while_slow_was_reading
    assert recorder.bodies == [b"quick", b"slow"]


def test_a_chunked_body_over_the_limit_is_not_kept_and_the_app_sees_it_too_long():
    refuser = _Refuser()
    app = BufferedOneAtATime(refuser, max_body_bytes=1000)
    stream = io.BytesIO(b"x" * 5000)
    assert _call(app, _chunked(b"", stream=stream)) == [b"too large"]
    assert refuser.lengths == ["1001"]  # one byte over: the app refuses it unread
    assert stream.read() == b""  # and the rest was drained, so the client reads the answer


def test_a_body_over_the_limit_is_drained_after_the_answer_up_to_a_bound(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr("server.wsgi_server.MIN_DRAIN_BYTES", 3000)
    app = BufferedOneAtATime(_Refuser(), max_body_bytes=1000)
    within = io.BytesIO(b"x" * 2500)
    _call(app, _environ(b"", stream=within, length=2500))
    assert within.read() == b""
    beyond = io.BytesIO(b"x" * 10_000)  # no more than the bound is read: then it is cut off
    _call(app, _environ(b"", stream=beyond, length=10_000))
    assert len(beyond.read()) == 10_000 - 3000


def test_a_streamed_response_is_produced_outside_the_lock():
    held_while_streaming: list[bool] = []
    app: BufferedOneAtATime

    def streaming(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])

        def rows() -> Any:
            for row in (b"a", b"b"):
                held_while_streaming.append(app.lock.locked())
                yield row

        return rows()

    app = BufferedOneAtATime(streaming, max_body_bytes=1 << 20)
    assert _call(app, _environ(b"")) == [b"a", b"b"]
    assert held_while_streaming == [False, False]


@pytest.mark.parametrize(
    ("database", "threads", "one_at_a_time"),
    [("sqlite", 8, True), ("sqlite", 1, False), ("postgresql", 8, False)],
)
def test_only_threaded_workers_on_sqlite_run_one_request_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database: str,
    threads: int,
    one_at_a_time: bool,
):
    url = (
        f"sqlite:///{tmp_path / 'x.sqlite3'}"
        if database == "sqlite"
        else "postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    monkeypatch.setenv("CASEWORK_DATABASE_URL", url)
    monkeypatch.setenv("CASEWORK_DATA_DIR", str(tmp_path / "data"))
    loader = _Gunicorn.__new__(_Gunicorn)  # its load() only, without starting gunicorn
    loader.options = {"threads": threads}
    app = loader.load()
    # every body is read before the app runs, whatever the database
    assert isinstance(app.wsgi_app, BufferedOneAtATime)
    assert app.wsgi_app.one_at_a_time is one_at_a_time


def test_a_worker_leaves_the_loaded_app_out_of_the_full_collections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """A full garbage collection walks every object the process holds: with the app's
    150 000 (mappers, templates, catalogues) that was 60 ms, paid by every sixth case page.
    Once a worker has loaded the app (gunicorn's post_worker_init) it collects and freezes
    what loading made, so the collections walk only what came after."""
    import gc

    from gunicorn.config import validate_callable

    from server.wsgi_server import freeze_loaded_app

    monkeypatch.setenv("CASEWORK_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("CASEWORK_DATA_DIR", str(tmp_path / "data"))
    assert validate_callable(1)(freeze_loaded_app) is freeze_loaded_app
    gc.unfreeze()
    loader = _Gunicorn.__new__(_Gunicorn)  # its load() only, without starting gunicorn
    loader.options = {"threads": 4}
    try:
        app = loader.load()
        assert gc.get_freeze_count() == 0  # loading itself freezes nothing
        freeze_loaded_app(None)
        assert gc.get_freeze_count() > 10_000
        assert not any(o is app.config for o in gc.get_objects())  # not walked any more
    finally:
        gc.unfreeze()


def test_a_worker_freezes_its_filled_caches_once_warm():
    """After the first requests (the caches they fill live as long as the worker) a worker
    collects its garbage and freezes the rest, at the given request counts only."""
    import gc

    from gunicorn.config import validate_post_request

    from server.wsgi_server import FreezeWhenWarm

    gc.unfreeze()
    try:
        hook = FreezeWhenWarm((3, 6))
        assert validate_post_request(hook) is hook  # gunicorn takes it as it is
        kept = [{"cache": n} for n in range(1000)]  # what the first requests filled
        hook(None, None, None, None)
        hook(None, None, None, None)
        assert gc.get_freeze_count() == 0
        hook(None, None, None, None)
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)

        class Node:
            pass

        garbage = Node()
        garbage.me = garbage  # type: ignore[attr-defined]  # a cycle, unreachable from here on
        freed = []
        weakref.finalize(garbage, freed.append, True)
        del garbage
        gc.disable()  # (so that only the hook's collection can free it)
        try:
            for _ in range(3):
                hook(None, None, None, None)
        finally:
            gc.enable()
        assert freed == [True]  # collected at the milestone, not frozen with the rest
    finally:
        gc.unfreeze()
