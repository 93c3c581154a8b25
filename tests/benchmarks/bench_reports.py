"""Report times at 100 000 cases. Run by hand:

    python tests/benchmarks/bench_reports.py [--cases 100000] [--db PATH] [--rounds 20]

It builds a migrated SQLite database whose cases, plan items and users are written
directly (rows replicated from a generator, not through the merge: ~1 minute, where the
merge takes hours at this size): 200 caseworkers in 20 teams with a supervisor each, one
admin; cases over 13 months with registration data, risk, three needs or services each;
then fills the reports' kept counts with ``report_counts.recount`` (what migration 0010
does). ``--db`` reuses a file built before.

Each line gives the wall-clock median and p95 and the median CPU time of the process: on a
machine shared with other work the wall clock measures the queue for the cores as well.

Then it times, in process (SQL, suppression and rendering, no HTTP), each report for an
admin (all teams; cut by team; one year; all time), a supervisor of a team, and the page,
CSV and API answers, ``--rounds`` times each, and prints median and p95. For comparison it
times the direct count (one GROUP BY per breakdown over the cases), which the kept counts
replace, and the kept counts' upkeep per merge (``report_counts.case_counts``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

TEAMS = 20
CASEWORKERS_PER_TEAM = 10
FIRST = date(2025, 12, 1)
MONTHS = 13
AGES = list(range(18))
SEXES = ("female", "male", "other")
NEEDS = (
    "physical_violence", "sexual_violence", "emotional_abuse", "neglect", "exploitation",
    "child_marriage", "separation", "armed_groups", "psychosocial_distress", "documentation",
)  # fmt: skip
SERVICES = ("health", "education", "psychosocial", "alternative_care", "cash_assistance",
            "wash", "food", "legal_aid")  # fmt: skip
STATUSES = ("planned", "referred", "in_progress", "delivered", "declined")
PADDING = "Notes kept with the case, as the forms' answers make the row about 3 KB. " * 40


def build(url: str, cases: int) -> None:
    from server.auth.models import User
    from server.cases import report_counts
    from server.cases.models import Case, CaseReportCount, PlanItem
    from server.cases.registration import age_band, registration
    from server.db import make_engine
    from server.migrations import upgrade

    engine = make_engine(url)
    upgrade(engine)
    rnd = random.Random(15)
    with engine.begin() as conn:
        users = [{"username": "adm", "role": "admin", "team": None}]
        for t in range(TEAMS):
            users.append({"username": f"sup{t:02d}", "role": "supervisor", "team": f"team{t:02d}"})
            for c in range(CASEWORKERS_PER_TEAM):
                users.append(
                    {"username": f"cw{t:02d}{c}", "role": "caseworker", "team": f"team{t:02d}"}
                )
        conn.execute(insert(User), [{**u, "password_hash": "x"} for u in users])
        caseworkers = list(conn.execute(select(User.id).where(User.role == "caseworker")).scalars())
        started = time.perf_counter()
        batch: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        for n in range(1, cases + 1):
            opened = datetime.combine(
                FIRST + timedelta(days=rnd.randrange(MONTHS * 30)), datetime.min.time(), UTC
            ) + timedelta(hours=10)
            region = rnd.randrange(1, 5)
            properties = {
                "age_years": str(rnd.choice(AGES)),
                "sex": rnd.choice(SEXES),
                **{d: rnd.choice(("none", "none", "none", "some", "a_lot")) for d in (
                    "wg_seeing", "wg_hearing", "wg_walking", "wg_remembering", "wg_selfcare",
                    "wg_communicating")},
                "admin1": f"R{region:02d}",
                "admin2": f"R{region:02d}D{rnd.randrange(1, 6):02d}",
                "intake_concern": rnd.choice(NEEDS),
                "notes": PADDING,
            }  # fmt: skip
            found = registration(properties)
            assert found.age_band == age_band(int(properties["age_years"]))
            batch.append(
                {
                    "id": n,
                    "case_ref": f"CP-{n:06d}",
                    "entity_id": f"e-{n}",
                    "status": "open",
                    "caseworker_id": rnd.choice(caseworkers),
                    "risk_level": rnd.choice(("low", "medium", "high")),
                    "properties": properties,
                    "provenance": {},
                    "opened_at": opened,
                    "updated_at": opened,
                    **found.columns(),
                }
            )
            for i in range(3):
                kind = "need" if i == 0 else "service"
                category = rnd.choice(NEEDS if kind == "need" else SERVICES)
                items.append(
                    {
                        "case_id": n,
                        "item_id": f"{n}-{i}",
                        "kind": kind,
                        "key": category,
                        "title": category,
                        "status": rnd.choice(STATUSES) if kind == "service" else "planned",
                        "properties": {f"{kind}_category": category},
                        "provenance": {},
                    }
                )
            if len(batch) == 5000:
                conn.execute(insert(Case), batch)
                conn.execute(insert(PlanItem), items)
                batch, items = [], []
        if batch:
            conn.execute(insert(Case), batch)
            conn.execute(insert(PlanItem), items)
        print(f"built {cases} cases in {time.perf_counter() - started:.0f} s", flush=True)
    from sqlalchemy.orm import Session

    started = time.perf_counter()
    with Session(engine) as session:
        counts = report_counts.recount(session)
        session.execute(
            insert(CaseReportCount),
            [
                {"team": t, "dimension": d, "value": v, "month": m, "n": n}
                for (t, d, v, m), n in sorted(counts.items())
            ],
        )
        session.commit()
        rows = session.scalar(select(func.count()).select_from(CaseReportCount))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(f"kept counts: {rows} rows, filled in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def timed(label: str, rounds: int, run: Any) -> float:
    """Wall-clock median and p95, and the median CPU time of this process (what the
    request costs whatever else the machine runs)."""
    run()  # warm
    times, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"{label:58s} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"
        f"   cpu {statistics.median(cpu):6.1f} ms"
    )
    return p95


def measure(url: str, rounds: int) -> None:
    from server import create_app, db
    from server.auth.models import User
    from server.cases import report_counts
    from server.cases.models import Case
    from server.reports import service
    from server.reports.service import ReportRequest

    data = tempfile.mkdtemp()
    app = create_app({"DATABASE_URL": url, "DATA_DIR": data, "SECRET_KEY": "bench"})
    worst = 0.0
    with app.app_context():
        session = db.session()
        n_cases = session.scalar(select(func.count()).select_from(Case))
        print(f"{n_cases} cases")
        admin = session.scalar(select(User).where(User.username == "adm"))
        sup = session.scalar(select(User).where(User.username == "sup07"))
        year = ReportRequest(date(2026, 1, 1), date(2026, 12, 1))
        ever = ReportRequest(date(2000, 1, 1), date(2030, 12, 1))
        for label, user, request in (
            ("admin, all teams, 12 months", admin, year),
            ("admin, cut by team, 12 months", admin, ReportRequest(year.first, year.last,
                                                                    by_team=True)),
            ("admin, cut by team, all time", admin, ReportRequest(ever.first, ever.last,
                                                                  by_team=True)),
            ("admin, one team, 12 months", admin, ReportRequest(year.first, year.last,
                                                                team="team07")),
            ("supervisor (team of ~5 000 cases), 12 months", sup, year),
            ("supervisor, one month", sup, ReportRequest(date(2026, 6, 1), date(2026, 6, 1))),
        ):  # fmt: skip
            worst = max(
                worst,
                timed(
                    f"build_report: {label}",
                    rounds,
                    lambda u=user, r=request: service.build_report(session, u, r, min_cell=5),
                ),
            )
        session.rollback()

        # the direct count the kept counts replace: one GROUP BY per breakdown
        def direct() -> None:
            for column in ("age_band", "sex", "disability", "admin1", "admin2",
                           "intake_concern", "risk_level"):  # fmt: skip
                session.execute(
                    text(
                        f"SELECT {column}, count(*) FROM case_record "  # noqa: S608 (fixed names)
                        "WHERE opened_at >= '2026-01-01' AND opened_at < '2027-01-01' "
                        f"GROUP BY {column}"
                    )
                ).all()

        timed("for comparison: counting the cases, 7 case breakdowns", max(3, rounds // 4),
              direct)  # fmt: skip
        ids = list(session.scalars(select(Case.id).limit(2000)))
        started = time.perf_counter()
        for case_id in ids:
            report_counts.case_counts(session, case_id)
        per = (time.perf_counter() - started) * 1000 / len(ids)
        print(f"{'kept counts upkeep: case_counts for one case':58s} {per:7.3f} ms a call "
              "(twice per merge)")  # fmt: skip

    client = app.test_client()
    headers = {}
    with app.app_context():
        from server.auth.devices import create_api_token

        session = db.session()
        _, token = create_api_token(session, "adm")
        _, sup_token = create_api_token(session, "sup07")
        session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        sup_headers = {"Authorization": f"Bearer {sup_token}"}
    for label, path, hdrs in (
        ("GET /api/v1/reports, admin, cut by team", "/api/v1/reports?from=2026-01&to=2026-12"
         "&by_team=true", headers),
        ("GET /api/v1/reports?format=csv, admin", "/api/v1/reports?from=2026-01&to=2026-12"
         "&format=csv", headers),
        ("GET /api/v1/reports, supervisor", "/api/v1/reports?from=2026-01&to=2026-12",
         sup_headers),
    ):  # fmt: skip

        def get(p: str = path, h: dict[str, str] = hdrs) -> None:
            response = client.get(p, headers=h)
            assert response.status_code == 200, response.get_data(as_text=True)

        worst = max(worst, timed(label, rounds, get))
    page = app.test_client()
    with app.app_context():
        from server.auth import auth_settings
        from server.auth.service import set_password

        session = db.session()
        user = session.scalar(select(User).where(User.username == "adm"))
        set_password(session, auth_settings(), user, "bench password 1", None)
        session.commit()
    page.post("/login", data={"username": "adm", "password": "bench password 1"})
    app.config["WTF_CSRF_ENABLED"] = False

    def page_get() -> None:
        response = page.get("/reports?from=2026-01&to=2026-12&by_team=1")
        assert response.status_code == 200, response.status_code

    worst = max(worst, timed("GET /reports page (tables and charts), admin, by team", rounds,
                             page_get))  # fmt: skip
    print(f"max p95: {worst:.1f} ms")
    print(json.dumps({"max_p95_ms": round(worst, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "reports.sqlite3"
    url = f"sqlite:///{path}"
    if not path.exists():
        build(url, args.cases)
    measure(url, args.rounds)


if __name__ == "__main__":
    main()
