"""Fixtures: a fresh app and an isolated database for every test.

CASEWORK_TEST_DATABASE picks the engine: "sqlite" (default: a copy per test of a file the
migrations built) or a PostgreSQL URL (one schema per worker built by the migrations,
emptied between tests). Every folder uses this one scheme.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import pytest
from argon2 import PasswordHasher, profiles
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.util import LRUCache
from werkzeug.routing.rules import Rule

import server.models  # noqa: F401
from server import create_app, db
from server.auth import passwords
from server.cli import main as cli_main
from server.db import Base, get_database, make_engine
from server.migrations import upgrade
from server.xforms import service as xforms_service
from server.xforms.convert import FormBuild
from server.xforms.definition import FormDefinition
from tests import factories
from tests.browser import (
    chromium,  # noqa: F401 (the worker's browser, a fixture)
    close_unless_next_needs_it,
)
from tests.realforms import XLSFORMS, xlsform_bytes

TEST_DATABASE = os.environ.get("CASEWORK_TEST_DATABASE", "sqlite")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at production cost takes ~50 ms a hash, and the suite makes thousands of users.

    The hashes still carry their own parameters, so a server started by a live test verifies
    them with the same code path.
    """
    production = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    passwords._hasher = production


@pytest.fixture(autouse=True, scope="session")
def each_form_converted_and_read_once() -> Iterator[None]:
    """pyxform takes about 0.4 s a form, reading the XForm it makes (five languages) 35 ms,
    and most tests publish the three real forms: publishing was a fifth of the suite.
    Conversion and reading are pure functions of the bytes, so a worker converts each
    distinct spreadsheet and reads each distinct XForm once, through the real code, and
    publishing reuses the result (the definition is frozen); one that fails fails every
    time. Tests of the conversion and of the reading call ``server.xforms.convert`` and
    ``server.xforms.definition`` directly."""
    real_convert = xforms_service.convert_xlsform
    real_parse = xforms_service.parse_definition
    built: dict[tuple[bytes, str, bool], FormBuild] = {}
    read: dict[bytes, FormDefinition] = {}

    def convert_once(content: bytes, filename: str, *, validate: bool) -> FormBuild:
        key = (hashlib.sha256(content).digest(), Path(filename).suffix.lower(), validate)
        if key not in built:
            built[key] = real_convert(content, filename, validate=validate)
        return built[key]

    def parse_once(xml: str | bytes) -> FormDefinition:
        key = hashlib.sha256(xml.encode("utf-8") if isinstance(xml, str) else xml).digest()
        if key not in read:
            read[key] = real_parse(xml)
        return read[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xforms_service, "convert_xlsform", convert_once)
        patch.setattr(xforms_service, "parse_definition", parse_once)
        yield


class _TemplatesCompiledOnce(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app of the worker. Jinja keys
    each entry by the template's name and checks the source's checksum before using it;
    the key here also holds what compiling depends on besides the source (autoescaping,
    the extensions), so that an app made differently compiles its own."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> jinja2.bccache.Bucket:
        escape = environment.autoescape
        settings = (
            getattr(escape, "__qualname__", escape),
            sorted(environment.extensions),
            environment.newline_sequence,
            environment.trim_blocks,
            environment.lstrip_blocks,
        )
        key = f"{self.get_cache_key(name, filename)}:{settings!r}"
        bucket = jinja2.bccache.Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(autouse=True, scope="session")
def each_app_compiled_once() -> Iterator[None]:
    """Most tests make an app of their own (their own database), and an app's first page
    compiled its templates and its ~110 URL rules again: 60 of the 75 ms an app cost, a
    tenth of the suite. A worker now compiles each template once (Jinja's bytecode cache),
    and each URL rule once: werkzeug parses a rule from its text, its host or subdomain
    and the map's converters alone, and makes its URL builder from the parsed parts
    alone, so the same inputs give the same parts and function, bound to each rule as
    before. (Converters are shared between apps: werkzeug's hold no state of their app.)"""
    real_builder = Rule._compile_builder
    builders: dict[tuple[Any, ...], Any] = {}

    def builder_once(rule: Rule, append_unknown: bool = True) -> Any:
        key = (
            rule.rule,
            tuple(rule._trace),
            repr(sorted((rule.defaults or {}).items())),
            tuple(sorted((name, type(c)) for name, c in rule._converters.items())),
            append_unknown,
        )
        if key not in builders:
            builders[key] = real_builder(rule, append_unknown)
        return builders[key]

    real_compile = Rule.compile
    parsed: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def compile_once(rule: Rule) -> None:
        assert rule.map is not None
        key = (
            rule.rule,
            rule.subdomain,
            rule.host,
            rule.merge_slashes,
            rule.map.host_matching,
            tuple(sorted(rule.map.converters.items())),
        )
        if key not in parsed:
            real_compile(rule)
            parsed[key] = (rule._parts, rule._trace, rule._converters)
            return
        parts, trace, converters = parsed[key]
        rule._parts, rule._trace, rule._converters = list(parts), list(trace), dict(converters)
        # what parsing adds to a rule's arguments: its variables (its defaults' keys are its
        # own, set by Rule.__init__, and may differ between rules of the same text)
        rule.arguments |= converters.keys()
        rule._build = rule._compile_builder(False).__get__(rule, None)
        rule._build_unknown = rule._compile_builder(True).__get__(rule, None)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            Flask,
            "jinja_options",
            {**Flask.jinja_options, "bytecode_cache": _TemplatesCompiledOnce()},
        )
        patch.setattr(Rule, "_compile_builder", builder_once)
        patch.setattr(Rule, "compile", compile_once)
        yield


class _CompiledOnceForEveryEngine:
    """A cache of SQLAlchemy's compiled statements that every engine of the worker shares.
    SQLAlchemy keys a compiled statement by the engine's dialect object (in the engine's
    cache, and in each mapper's cache of the flush's INSERTs and UPDATEs); most tests make
    an app, so an engine, of their own, and compiling the same statements again was a
    quarter of a test's time. Dialects of one class, server version and driver, made with
    the same compiling options, compile a statement to the same SQL, as one engine per
    process does in production: the key here names the first such dialect in place of
    each."""

    def __init__(self, dialects: dict[tuple[Any, ...], Dialect], size: int) -> None:
        self.dialects = dialects
        self.compiled: LRUCache[tuple[Any, ...], Any] = LRUCache(size)

    def _key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect: Dialect = key[0]
        kind = (
            type(dialect),
            dialect.server_version_info,
            dialect.driver,
            dialect.paramstyle,
            # what create_engine's arguments change in compiling (and its warnings)
            dialect.compiler_linting,
            dialect.label_length,
            dialect.max_identifier_length,
            dialect.supports_native_boolean,
            getattr(dialect, "_json_serializer", None),
            getattr(dialect, "_json_deserializer", None),
            getattr(dialect, "native_datetime", None),
        )
        return (self.dialects.setdefault(kind, dialect), *key[1:])

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self.compiled.get(self._key(key), default)

    def __setitem__(self, key: tuple[Any, ...], compiled: Any) -> None:
        self.compiled[self._key(key)] = compiled


@pytest.fixture(autouse=True, scope="session")
def each_statement_compiled_once() -> Iterator[None]:
    dialects: dict[tuple[Any, ...], Dialect] = {}
    shared = _CompiledOnceForEveryEngine(dialects, 20_000)
    real_init = Engine.__init__

    def engine_sharing_compiled_statements(engine: Engine, *args: Any, **kwargs: Any) -> None:
        real_init(engine, *args, **kwargs)
        if engine._compiled_cache is not None:
            engine._compiled_cache = shared  # type: ignore[assignment]

    configure_mappers()
    mappers = list(Base.registry.mappers)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "__init__", engine_sharing_compiled_statements)
        for mapper in mappers:
            # a memoized attribute of the mapper: its value lives in the instance's dict
            patch.setitem(
                mapper.__dict__, "_compiled_cache", _CompiledOnceForEveryEngine(dialects, 100)
            )
        yield


def is_postgres() -> bool:
    return TEST_DATABASE.startswith("postgresql")


def _schema_url(schema: str) -> str:
    """The worker's schema. Commits do not wait for the WAL to reach the disk: a test
    kills app servers, never PostgreSQL, and waiting on the disk was most of a test's time."""
    sep = "&" if "?" in TEST_DATABASE else "?"
    options = f"-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    return f"{TEST_DATABASE}{sep}options={options}"


def _built_by_migrations(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


DATABASE_FIXTURES = {"template_database", "empty_database_url", "empty_worker_database_url"}


def _runs_on_this_engine(item: pytest.Item) -> bool:
    """Whether ``item`` belongs to this engine's run. A test about one engine itself
    (marked ``sqlite_only`` / ``postgresql_only``) runs in that engine's run. On PostgreSQL,
    only the tests that reach a database run: the others (parsing, forms, codecs, the
    merge's pure functions) do not depend on the engine and ran on SQLite."""
    if is_postgres():
        reaches = bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
        return reaches and item.get_closest_marker("sqlite_only") is None
    return item.get_closest_marker("postgresql_only") is None


LONG_RUNNING = ("live", "browser", "slow")


def _takes_seconds(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) is not None for name in LONG_RUNNING)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each run leaves out, as deselected (counted in its summary), what is not its own.
    The tests that take seconds run first, so that the run ends on short tests (which
    pytest-xdist's work stealing shares out) instead of one worker finishing a long one
    while the other waits."""
    mine = [_runs_on_this_engine(item) for item in items]
    others = [item for item, runs in zip(items, mine, strict=True) if not runs]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item, runs in zip(items, mine, strict=True) if runs]
    items.sort(key=lambda item: not _takes_seconds(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Once a test's fixtures are torn down, the worker's Chromium stops unless the next
    test uses it (the browser tests run one after another: ``pytest_collection_modifyitems``)."""
    try:
        return (yield)
    finally:
        close_unless_next_needs_it(nextitem)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The one database scheme of the suite: a schema built by the migrations once per
    worker, as deployments build theirs. On SQLite each test gets a copy of this file; on
    PostgreSQL each test uses this schema, emptied after it."""
    if not is_postgres():
        path = tmp_path_factory.mktemp("template") / "casework.sqlite3"
        _built_by_migrations(f"sqlite:///{path}")
        yield str(path)
        return
    schema = f"cw_test_{os.getpid()}"
    admin = create_engine(TEST_DATABASE)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _schema_url(schema)
    _built_by_migrations(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_engine(template_database: str) -> Iterator[Engine | None]:
    """On PostgreSQL, the one engine of the worker's tests: every app made on the worker's
    schema gets it, and it empties the schema after each test, so its pooled connections
    outlive each test. A new connection is a new server process that loads the catalogue
    again: 16 ms of both cores before a test's first query, where a pooled one answers in
    2. It is disposed of once, at the end of the worker's run. None on SQLite."""
    if not is_postgres():
        yield None
        return
    real_make_engine = db.make_engine
    shared = real_make_engine(template_database)

    def engine_of_the_worker(url: str) -> Engine:
        return shared if url == template_database else real_make_engine(url)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "make_engine", engine_of_the_worker)
        patch.setattr(shared, "dispose", lambda close=True: None)
        yield shared
    shared.dispose()


@pytest.fixture
def database_url(
    tmp_path: Path, template_database: str, worker_engine: Engine | None
) -> Iterator[str]:
    """An empty database at the head revision, this test's alone."""
    if worker_engine is None:
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(template_database, path)
        yield f"sqlite:///{path}"
        return
    yield template_database
    with worker_engine.begin() as conn:
        conn.exec_driver_sql(_emptying_statement(conn))


_EMPTYING: list[str] = []


def _emptying_statement(conn: Connection) -> str:
    """Every table emptied, children first, and every sequence set back to 1, in one round
    trip. TRUNCATE gives each table a new file, which cost PostgreSQL up to a second a test
    for two dozen nearly empty tables; DELETE and setval cost milliseconds."""
    if not _EMPTYING:
        sequences = conn.scalars(
            text(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = current_schema()"
            )
        ).all()
        tables = reversed(Base.metadata.sorted_tables)
        deletes = [f'DELETE FROM "{t.name}"' for t in tables]  # noqa: S608 (our table names)
        resets = ", ".join(f"setval('\"{name}\"', 1, false)" for name in sequences)
        _EMPTYING.append("; ".join([*deletes, f"SELECT {resets}" if resets else "SELECT 1"]))
    return _EMPTYING[0]


@pytest.fixture
def bare_engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database, for tests that work below the app (the merge,
    the exports)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def _empty_database(directory: Path, name: str) -> Iterator[str]:
    """A database with no tables: a new SQLite file in ``directory``, or a PostgreSQL schema
    of the worker named ``name``."""
    if not is_postgres():
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    schema = f"cw_{name}_{os.getpid()}"
    admin = create_engine(TEST_DATABASE)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield _schema_url(schema)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, for migrations and the CLI."""
    with _empty_database(tmp_path, "empty") as url:
        yield url


@pytest.fixture(scope="session")
def empty_worker_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database the worker keeps for the whole run, given with no tables: for the query
    plan tests (``tests/perf``), which build their schema and users in it once and only
    read. One user per run: a second would find that schema there."""
    with _empty_database(tmp_path_factory.mktemp("worker"), "worker") as url:
        yield url


def app_config(database_url: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key",
        "BASE_URL": "http://localhost",
        "ODK_VALIDATE": False,
        "LOGIN_LOCKOUT_SECONDS": 60,
        **extra,
    }


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(app_config(database_url, tmp_path / "data"))
    yield application
    get_database(application).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    return get_database(app).engine


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session outside any request, for arranging data and checking results."""
    with app.app_context():
        session = get_database(app).sessionmaker()
        try:
            yield session
        finally:
            session.close()


@pytest.fixture
def make(app: Flask) -> factories.Factory:
    return factories.Factory(app)


@pytest.fixture
def published(make: factories.Factory) -> None:
    """The real case plan, contact log and case conference forms, published."""
    for form_id in ("case_plan", "contact_log", "case_conference"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")


@pytest.fixture
def published_by_cli(empty_database_url: str, tmp_path: Path) -> Iterator[factories.PublishedByCli]:
    data_dir = tmp_path / "data"
    env = {
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(data_dir),
        "CASEWORK_ODK_VALIDATE": "false",
    }

    def casework(*args: str) -> str:
        result = CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    casework("migrate")
    casework("publish-xlsforms", str(XLSFORMS))
    application = create_app(
        {"DATABASE_URL": empty_database_url, "DATA_DIR": str(data_dir), "TESTING": True}
    )
    make = factories.Factory(application)
    make.user("cw1", "caseworker", team="north")
    make.user("boss", "admin")
    yield factories.PublishedByCli(
        casework=casework,
        app=application,
        make=make,
        phone=make.device_client("p1", "cw1"),
        client=application.test_client(),
        boss=factories.bearer(make.api_token("boss")),
    )
    get_database(application).engine.dispose()


@pytest.fixture
def device(make: factories.Factory) -> factories.DeviceClient:
    """A caseworker's phone, provisioned by device key, speaking OpenRosa."""
    make.user("cw1", "caseworker", team="north")
    return make.device_client("phone-1", "cw1")
