"""Page and list times at a realistic size, through a real `casework serve`. Run by hand:

    python tests/benchmarks/bench_pages.py [--cases 100000] [--contacts 3] [--db PATH]
                                           [--database-url URL [--schema NAME]
                                            [--copy-from SQLITE_FILE]]
                                           [--rounds 20] [--build-only]

It builds a database of ``--cases`` cases (or reuses the one at ``--db`` / in ``--schema``,
if it already holds cases) through the product's own receive-and-merge code: every case is
a real case_plan registration from its caseworker's phone followed by real contact logs
(about four submissions a case, one case with 50), a few conferences, some submissions
waiting in the queues, and audit events. 200 caseworkers in 20 teams, one supervisor per
team, one admin.

Then it serves the database with `casework serve` and times each request ``--rounds``
times, after one untimed request that warms the worker, per role (an admin, a supervisor
of a team, a caseworker, and the supervisor's phone), printing one line per request::

    role request median_ms p95_ms bytes

and last ``max p95: N ms over K requests``.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

TEAMS = 20
CASEWORKERS_PER_TEAM = 10
PASSWORD = "benchmark password"
TODAY = datetime.now(UTC).date()
RISKS = ("low", "medium", "high")
FREQUENCIES = ("7", "14", "30")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def caseworker_name(n: int) -> str:
    return f"cw{n:03d}"


def case_ref(n: int) -> str:
    return f"CP-{n:06d}"


# --- building ------------------------------------------------------------------------------


def case_submissions(n: int, contacts: int) -> list[tuple[str, bytes]]:
    """(submitter, XML) of one case: its registration and ``contacts`` contact logs."""
    from tests import realforms as rf

    rnd = random.Random(n)
    cw = caseworker_name(n % (TEAMS * CASEWORKERS_PER_TEAM))
    ref = case_ref(n)
    frequency = rnd.choice(FREQUENCIES)
    opened = TODAY - timedelta(days=rnd.randrange(20, 400))
    xml, entity = rf.new_case_plan(
        ref,
        str(uuid.UUID(int=n + 1)),
        caseworker=cw,
        risk=rnd.choice(RISKS),
        plan_date=opened.isoformat(),
        frequency=frequency,
    )
    # the plan's items fall due over the weeks after it was made, not all on one day
    for fixed in (b"2026-11-25", b"2026-11-27", b"2026-12-01"):
        due = opened + timedelta(days=rnd.randrange(7, 120))
        xml = xml.replace(fixed, due.isoformat().encode())
    out = [(cw, xml)]
    when = opened
    for k in range(contacts):
        when = min(when + timedelta(days=rnd.randrange(3, 40)), TODAY - timedelta(days=1))
        close = "yes" if k == contacts - 1 and rnd.random() < 0.08 else "no"
        out.append(
            (
                cw,
                rf.contact_log(
                    ref,
                    entity,
                    base_version=k + 1,
                    contact_time=f"{when.isoformat()}T10:00:00.000+00:00",
                    risk=rnd.choice(RISKS),
                    next_contact=(when + timedelta(days=int(frequency))).isoformat(),
                    close=close,
                ),
            )
        )
    if n % 30 == 0:  # a conference now and then
        out.append(
            (
                cw,
                rf.case_conference(
                    ref,
                    entity,
                    base_version=contacts + 1,
                    conference_date=when.isoformat(),
                    decisions=[("Family meeting", cw, TODAY.isoformat(), "planned")],
                ),
            )
        )
    return out


def queue_submissions(count: int) -> list[tuple[str, bytes]]:
    """Contact logs naming reference numbers no case has (the unlinked queue), and second
    registrations of taken ones (the duplicates queue)."""
    from tests import realforms as rf

    out = []
    for i in range(count):
        cw = caseworker_name(i % (TEAMS * CASEWORKERS_PER_TEAM))
        out.append(
            (
                cw,
                rf.contact_log(
                    f"NONE-{i:05d}",
                    str(uuid.uuid4()),
                    base_version=1,
                    contact_time=f"{(TODAY - timedelta(days=2)).isoformat()}T09:00:00.000+00:00",
                ),
            )
        )
        if i % 4 == 0:
            xml, _ = rf.new_case_plan(case_ref(i * 7), caseworker=cw)
            out.append((cw, xml))
    return out


def create_people(session: Any, settings: Any) -> None:
    """One admin, and the teams with their supervisor and caseworkers."""
    from server.auth import service as auth

    auth.create_user(session, settings, "admin", "admin", PASSWORD)
    for t in range(TEAMS):
        team = f"team{t:02d}"
        auth.create_team(session, team, None)
        auth.create_user(session, settings, f"sup{t:02d}", "supervisor", PASSWORD, team=team)
        for c in range(CASEWORKERS_PER_TEAM):
            name = caseworker_name(t * CASEWORKERS_PER_TEAM + c)
            auth.create_user(session, settings, name, "caseworker", PASSWORD, team=team)
    session.commit()


def build(url: str, env: dict[str, str], cases: int, start: int = 0, contacts: int = 3) -> None:
    """The whole database, through ``server.intake.receive``; from case number ``start``
    when an earlier build was stopped part way (its people and forms are there already)."""
    cli(env, "migrate")
    # (again when going on: the forms may have gained versions since, which the new
    # submissions are made from)
    cli(env, "publish-xlsforms", str(ROOT / "xlsforms"))
    os.environ.update(env)
    from server import create_app, db
    from server.audit.models import AuditEvent
    from server.auth import auth_settings
    from server.auth.models import User
    from server.cases.settings import case_settings
    from server.intake import receive
    from server.submissions.service import Caller

    app = create_app()
    with app.app_context():
        session = db.session()
        settings = auth_settings()
        if not start:
            create_people(session, settings)
        users = {u.username: u for u in session.scalars(select(User))}
        cases_settings = case_settings(app)
        callers = {name: Caller(user=u, device=None) for name, u in users.items()}

        started = time.perf_counter()
        done = 0

        def send(batch: list[tuple[str, bytes]]) -> None:
            nonlocal done
            for who, xml in batch:
                receive(session, xml, [], callers[who], settings=cases_settings)
                session.expunge_all()
                done += 1
            if done % 2000 < len(batch):
                rate = done / (time.perf_counter() - started)
                print(f"  {done} submissions, {rate:.0f}/s", file=sys.stderr, flush=True)

        # One case with 50 timeline entries, kept by the first caseworker.
        if not start:
            send(case_submissions(0, 49))
        for n in range(max(start, 1), cases):
            send(case_submissions(n, contacts + 1 if n % 5 == 0 else contacts))
        send(queue_submissions(max(20, cases // 500)))

        # Audit events: five for every case (case views, lists, exports), in bulk.
        names = [u for u in users if u.startswith("cw")]
        rows = []
        base = datetime.now(UTC) - timedelta(days=365)
        for i in range(cases * 5):
            who = names[i % len(names)]
            rows.append(
                {
                    "at": base + timedelta(seconds=i * 6),
                    "actor_id": users[who].id,
                    "actor": who,
                    "action": "case.view",
                    "target_type": "case",
                    "target": case_ref(i % cases),
                    "details": {},
                    "ip": "127.0.0.1",
                }
            )
            if len(rows) == 20_000:
                session.execute(insert(AuditEvent), rows)
                session.commit()
                rows = []
        if rows:
            session.execute(insert(AuditEvent), rows)
            session.commit()
        print(
            f"built in {time.perf_counter() - started:.0f} s ({done} submissions)",
            file=sys.stderr,
        )
    cli(env, "migrate")  # and ANALYZE
    vacuum(url)


def copy_database(source: str, url: str, env: dict[str, str]) -> None:
    """The PostgreSQL schema at ``url`` filled with the rows of the SQLite database at
    ``source`` that :func:`build` made through ``server.intake.receive``: the same cases,
    submissions and merges, without a second build at PostgreSQL's pace on this machine
    (about 80 submissions a second through receive, 3.5 hours for a million). The schema
    is made by the migrations first; the rows go over through the models' own column
    types, then each sequence is set past its table's highest id."""
    cli(env, "migrate")
    import server.models  # noqa: F401  (every table on the metadata)
    from server.db import Base

    reader = create_engine(source)
    writer = create_engine(url)
    tables = Base.metadata.sorted_tables
    revision = text("SELECT version_num FROM alembic_version")
    started = time.perf_counter()
    # One read transaction (one snapshot of the source, even if something still writes to
    # it) and one write transaction: a copy stopped part way leaves the schema as it was,
    # never with cases and audit events but no submissions, which the next run would take
    # for a finished database and reuse.
    with reader.connect() as inp, writer.begin() as out:
        theirs, ours = inp.scalar(revision), out.scalar(revision)
        if theirs != ours:
            raise SystemExit(
                f"{source} is at migration {theirs}, the schema at {ours}: run"
                " `casework migrate` on the SQLite database first"
            )
        for table in reversed(tables):  # rows the migrations may have seeded
            out.execute(table.delete())
        for table in tables:
            copied = 0
            result = inp.execution_options(yield_per=5000).execute(select(table))
            for chunk in result.partitions():
                out.execute(insert(table), [dict(row._mapping) for row in chunk])
                copied += len(chunk)
            for column in table.primary_key.columns:
                if column.autoincrement is True or (
                    column.autoincrement == "auto" and column.type.python_type is int
                ):
                    highest = f'SELECT max("{column.name}") FROM "{table.name}"'  # noqa: S608
                    out.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence(:t, :c), coalesce(({highest}), 0) + 1, false)"
                        ),
                        {"t": table.name, "c": column.name},
                    )
            print(
                f"  {table.name}: {copied} rows ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        # A copy packs each table tight; a live database's cases and plan items have been
        # rewritten by a merge at every submission, and carry the free space autovacuum
        # leaves behind. Each is rewritten once here, which VACUUM below turns into that
        # space (about half of each table and index then free): closer to a database built
        # through the merge, which a bare copy would flatter.
        for table in ("case_record", "plan_item"):
            out.execute(text(f'UPDATE "{table}" SET id = id'))  # noqa: S608 (our names)
    reader.dispose()
    writer.dispose()
    cli(env, "migrate")  # and ANALYZE
    vacuum(url)


def vacuum(url: str) -> None:
    """On PostgreSQL, what autovacuum does as a database grows (the project machines' server
    runs without it): the visibility map that lets a count read an index alone."""
    if not url.startswith("postgresql"):
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


# --- timing --------------------------------------------------------------------------------


class Client:
    """A keep-alive HTTP client with a cookie jar of one session (or a bearer token)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base)
        self.prefix = parts.path.rstrip("/")
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        self.headers = dict(headers or {})
        self.cookie = ""

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        h = {**self.headers, **(headers or {})}
        if self.cookie:
            h["Cookie"] = self.cookie
        try:
            self.conn.request(method, self.prefix + path, body=body, headers=h)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # the server closed an idle keep-alive connection: open another one
            self.conn.close()
            self.conn.connect()
            self.conn.request(method, self.prefix + path, body=body, headers=h)
            response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.cookie = value.split(";", 1)[0]
        return response.status, data, response

    def login(self, username: str) -> None:
        _, page, _ = self.request("GET", "/login")
        found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        assert found, "no CSRF token on the sign-in page"
        form = urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": found.group(1).decode()}
        )
        status, _, _ = self.request(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302, f"sign-in as {username}: {status}"


def case_list_requests(prefix: str, ref: str, caseworker: str, team: str) -> list[str]:
    filters = [
        {},
        {"status": "open"},
        {"risk": "high"},
        {"overdue": "1"},
        {"overdue": "1", "risk": "high"},
        {"caseworker": caseworker},
        {"team": team},
        {"ref": ref},
        {"ref": ref[-3:]},  # any part of the number
        {"sort": "risk"},
        {"sort": "opened", "dir": "desc"},
        {"sort": "last_contact"},
        {"sort": "updated", "dir": "desc"},
        {"sort": "caseworker"},
        {"sort": "team"},
        {"sort": "status"},
        {"sort": "conflicts", "dir": "desc"},
        {"status": "open", "due_to": "2030-12-31", "sort": "risk"},  # the worklist's "more"
        {"opened_from": "2024-01-01", "opened_to": "2026-06-30"},
        {"last_contact_from": "2026-01-01"},
        {"conflicts": "true"},
        {"no_review": "true", "sort": "risk"},
        {"safety_due": "true", "sort": "risk"},
    ]
    out = []
    for f in filters:
        for page in (1, 50):
            out.append(f"{prefix}?{urlencode({**f, 'page': page})}")
    return out


def item_list_requests(caseworker: str, team: str) -> list[str]:
    """The plan-items and referrals pages, with each filter, page 1 and page 50."""
    filters: list[dict[str, str]] = [
        {},
        {"overdue": "true"},
        {"kind": "need", "overdue": "true"},
        {"open": "true"},
        {"caseworker": caseworker},
        {"team": team},
        {"due_from": "2026-01-01", "due_to": "2026-12-31"},
    ]
    out = []
    for prefix in ("/plan-items", "/referrals"):
        for f in filters:
            if prefix == "/referrals" and "kind" in f:
                continue
            for page in (1, 50):
                out.append(f"{prefix}?{urlencode({**f, 'page': page})}")
    return out


def requests_for(role: str, names: dict[str, str]) -> list[str]:
    ref0 = case_ref(0)
    web = [
        *case_list_requests("/cases", "CP-0001", names["caseworker"], names["team"]),
        f"/cases/{ref0}",
        f"/api/v1/cases/{ref0}",
        f"/api/v1/cases/{ref0}/history",
        *case_list_requests("/api/v1/cases", "CP-0001", names["caseworker"], names["team"])[:4],
        "/api/v1/cases?overdue=true",
        "/api/v1/followups",
        "/api/v1/followups?page=50",
        "/dashboard",
        *item_list_requests(names["caseworker"], names["team"]),
    ]
    if role in ("admin", "supervisor"):
        web += [
            "/queues",
            "/queues?page=2",
            "/api/v1/queues/unlinked",
            "/api/v1/queues/duplicates",
        ]
    web += [f"/cases/{ref0}/print", "/account"]
    if role in ("admin", "supervisor"):
        # supervision: the reports over a year, and the services directory's figures
        year = f"from={TODAY.year - 1}-{TODAY.month:02d}&to={TODAY.year}-{TODAY.month:02d}"
        web += ["/reports", f"/reports?{year}", f"/reports.csv?{year}", "/services"]
    if role == "admin":
        web += ["/audit", "/audit?page=50", f"/audit?actor={names['caseworker']}"]
        web += ["/users", "/teams", "/devices", "/forms", "/exports"]
    return web


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


# The lists that page by cursor: their "page 50" is read as a person reaches it, from the
# Next link's cursor (``server.paging.paginate_keyset``), not with ?page= (OFFSET, kept for
# old links only).
CURSOR_LISTS = ("/cases?", "/api/v1/cases?", "/plan-items?", "/referrals?", "/audit?")


def far_page(client: Client, path: str) -> str:
    """``path`` (a ``page=50`` of a list that pages by cursor) as the address of the page
    after row 2 500 (page 51 of 50 rows), found once, untimed, from the Next cursor of
    rows 2 001 to 2 500; ``path`` itself when it is not such a page or the list is
    shorter."""
    base, _, query = path.partition("?")
    args = dict(parse_qsl(query))
    if args.get("page") != "50" or not path.startswith(CURSOR_LISTS):
        return path
    rest = {k: v for k, v in args.items() if k not in ("page", "per_page")}
    if base == "/audit":  # the log's pages are of 100 rows: the page after row 5 000
        probe = f"{base}?{urlencode({**rest, 'page': 50})}"
    else:
        probe = f"{base}?{urlencode({**rest, 'page': 5, 'per_page': 500})}"
    _, body, _ = client.request("GET", probe)
    if base.startswith("/api/"):
        cursor = json.loads(body).get("next_cursor")
    else:
        found = re.search(rb'<a rel="next" href="[^"]*[?&;]cursor=([^"&]+)', body)
        cursor = found.group(1).decode() if found else None
    if not cursor:
        return path
    return f"{base}?{urlencode({**rest, 'cursor': unquote(html.unescape(cursor))})}"


def time_requests(
    client: Client, role: str, paths: list[str], rounds: int, results: list[tuple[Any, ...]]
) -> None:
    for shown in paths:
        path = far_page(client, shown)
        times = []
        size = 0
        status = 0
        # one request first, untimed: the worker compiles the page's templates and reads
        # the forms' words once per process, which the timed requests are not about
        client.request("GET", path)
        for _ in range(rounds):
            started = time.perf_counter()
            status, body, _ = client.request("GET", path)
            times.append((time.perf_counter() - started) * 1000)
            size = len(body)
        p95 = percentile(times, 0.95)
        label = shown if path == shown else f"{shown} (by cursor)"
        label = label if status == 200 else f"{label} [{status}]"
        results.append((role, label, statistics.median(times), p95, size))
        print(f"{role} {label} {statistics.median(times):.0f} {p95:.0f} {size}", flush=True)


def phone_paths(client: Client) -> list[str]:
    status, body, _ = client.request("GET", "/formList")
    assert status == 200, f"formList: {status}"
    paths = ["/formList"]
    for url in re.findall(rb"<manifestUrl>([^<]+)</manifestUrl>", body):
        paths.append(urlsplit(url.decode()).path.removeprefix(client.prefix))
    paths += ["/forms/contact_log/attachments/cases.csv"]
    paths += ["/forms/contact_log/attachments/plan_items.csv"]
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", help="SQLite file to build, or reuse if it holds cases")
    parser.add_argument("--database-url", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--schema", help="PostgreSQL schema to build or reuse")
    parser.add_argument("--rounds", type=int, default=20)
    # contact logs per case (one more for every fifth): 3 makes about 4.2 submissions a
    # case (420 000 at 100 000 cases); 9 about 10.2 (a million)
    parser.add_argument("--contacts", type=int, default=3)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--copy-from",
        metavar="SQLITE_FILE",
        help="with --database-url: fill the schema from a database this benchmark built on "
        "SQLite, instead of building it again through receive",
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="casework-pages-"))
    if args.database_url:
        schema = args.schema or f"bench_pages_{args.cases}"
        with create_engine(args.database_url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        sep = "&" if "?" in args.database_url else "?"
        url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
    else:
        path = Path(args.db) if args.db else tmp / "pages.sqlite3"
        url = f"sqlite:///{path.resolve()}"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CASEWORK_DATABASE_URL": url,
        "CASEWORK_DATA_DIR": str(tmp / "data"),
        "CASEWORK_BASE_URL": f"http://127.0.0.1:{port}",
        "CASEWORK_ODK_VALIDATE": "false",
    }
    engine = create_engine(url)
    with engine.connect() as conn:
        try:
            existing = conn.scalar(select(func.count()).select_from(text("case_record"))) or 0
            # the audit events are written last, in bulk (people's accounts write some before)
            finished = conn.scalar(
                text("SELECT count(*) FROM audit_event WHERE action = 'case.view'")
            )
            last_ref = conn.scalar(text("SELECT max(case_ref) FROM case_record"))
        except Exception:  # no schema yet
            existing = finished = 0
    engine.dispose()
    if args.copy_from and not (existing and finished):
        if not args.database_url:
            parser.error("--copy-from fills a PostgreSQL schema: give --database-url")
        copy_database(f"sqlite:///{Path(args.copy_from).resolve()}", url, env)
    elif existing and finished:
        print(f"reusing a database of {existing} cases", file=sys.stderr)
        cli(env, "migrate")
        vacuum(url)
    else:
        # A build stopped part way goes on after the last case it made: they are made in order.
        start = int(last_ref.removeprefix("CP-")) + 1 if existing else 0
        if start:
            print(f"going on from case {start}", file=sys.stderr)
        build(url, env, args.cases, start=start, contacts=args.contacts)
    if args.build_only:
        return

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "server.log").open("w"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                Client(base).request("GET", "/login")
                break
            except OSError:
                time.sleep(0.2)
        # the supervisor's phone, and API tokens for each person
        os.environ.update(env)
        from server import create_app, db
        from server.auth import auth_settings
        from server.auth import devices as auth_devices

        app = create_app()
        tokens = {}
        with app.app_context():
            session = db.session()
            label = f"bench-phone-{os.getpid()}"
            phone = auth_devices.create_device(session, auth_settings(), label, "sup00", None)
            for who in ("admin", "sup00", caseworker_name(0)):
                tokens[who] = auth_devices.create_api_token(session, who, "bench")[1]
            session.commit()
        phone_url = urlsplit(phone.server_url).path

        names = {"caseworker": caseworker_name(1), "team": "team00"}
        results: list[tuple[Any, ...]] = []
        for role, who in (("admin", "admin"), ("supervisor", "sup00"), ("caseworker", "cw000")):
            web = Client(base)
            web.login(who)
            api = Client(base, {"Authorization": f"Bearer {tokens[who]}"})
            for path in requests_for(role, names):
                client = api if path.startswith("/api/") else web
                time_requests(client, role, [path], args.rounds, results)
        device = Client(base + phone_url, {"X-OpenRosa-Version": "1.0"})
        time_requests(device, "phone", phone_paths(device), args.rounds, results)
    finally:
        server.terminate()
        server.wait(timeout=30)
    worst = max(r[3] for r in results)
    print(f"max p95: {worst:.0f} ms over {len(results)} requests")
    slow = [r for r in results if r[3] > 200]
    for r in slow:
        print(f"  over 200 ms: {r[0]} {r[1]} {r[3]:.0f}", file=sys.stderr)


if __name__ == "__main__":
    main()
