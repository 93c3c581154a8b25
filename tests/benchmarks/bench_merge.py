"""Rough speed figures for case merging and device lists. Run by hand:

    python tests/benchmarks/bench_merge.py

Prints merges per second for a case with 50 prior submissions (the pure fold, and a full
apply + rebuild against SQLite), then the time and peak Python memory to stream a
100 000-case cases.csv from SQLite.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert
from sqlalchemy.orm import Session

import server.models  # noqa: F401
from server.auth.models import User
from server.cases import device_lists, rebuild
from server.cases.mapping import CaseUpdate, ItemUpdate
from server.cases.merge import build_case
from server.cases.models import Case
from server.db import Base, make_engine

START = datetime(2024, 1, 1, tzinfo=UTC)


def updates(n: int) -> list[CaseUpdate]:
    out = [
        CaseUpdate(
            case_ref="CP-1",
            instance_id="reg",
            form_id="case_plan",
            event_at=START,
            entity_id=str(uuid.uuid4()),
            is_registration=True,
            submitter="amina",
            properties={"risk_level": "medium", "contact_frequency_days": 7},
            items=tuple(ItemUpdate("need", f"n{i}", title=f"Need {i}") for i in range(5)),
            is_review=True,
        )
    ]
    for i in range(1, n):
        out.append(
            CaseUpdate(
                case_ref="CP-1",
                instance_id=f"c{i}",
                form_id="contact_log",
                event_at=START + timedelta(days=i),
                base_version=i,
                submitter="amina",
                properties={"last_contact_mode": "visit", "risk_level": ["low", "high"][i % 2]},
                items=(ItemUpdate("need", f"n{i % 5}", status="open"),),
                is_contact=True,
            )
        )
    return out


def bench_fold() -> None:
    ups = updates(51)
    rounds = 300
    t0 = time.perf_counter()
    for _ in range(rounds):
        build_case(
            ups, [], today=date(2024, 6, 1), default_frequency_days=14, review_interval_days=90
        )
    dt = time.perf_counter() - t0
    print(f"pure fold, 51 submissions:         {rounds / dt:8.0f} merges/s")


def bench_rebuild(tmp: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp / 'rebuild.sqlite3'}")
    Base.metadata.create_all(engine)
    from server.cases.models import CaseContribution
    from server.submissions.models import Submission
    from server.xforms.models import XForm, XFormVersion

    with Session(engine) as s:
        s.add(User(username="amina", role="caseworker"))
        xf = XForm(form_id="case_plan")
        s.add(xf)
        s.flush()
        ver = XFormVersion(xform_id=xf.id, xml="", md5="", definition={})
        s.add(ver)
        s.flush()
        for u in updates(51):
            sub = Submission(
                instance_id=u.instance_id,
                root_instance_id=u.instance_id,
                xform_id=xf.id,
                xform_version_id=ver.id,
                xml=b"",
                xml_sha256="",
                data={},
            )
            s.add(sub)
            s.flush()
            s.add(
                CaseContribution(
                    submission_id=sub.id,
                    case_ref="CP-1",
                    form_id=u.form_id,
                    entity_id=u.entity_id,
                    is_registration=u.is_registration,
                    base_version=u.base_version,
                    event_at=u.event_at,
                    update=u.to_json(),
                )
            )
        s.commit()
        rebuild.rebuild(s, "CP-1")
        s.commit()
        rounds = 50
        t0 = time.perf_counter()
        for _ in range(rounds):
            rebuild.rebuild(s, "CP-1")
            s.commit()
        dt = time.perf_counter() - t0
    print(f"rebuild from SQLite, 51 submissions: {rounds / dt:8.0f} merges/s")
    engine.dispose()


def bench_cases_csv(tmp: Path, n: int = 100_000) -> None:
    engine = make_engine(f"sqlite:///{tmp / 'list.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(username="admin", role="admin"))
        s.add(User(username="amina", role="caseworker"))
        s.commit()
        now = datetime.now(UTC)
        rows = [
            {
                "case_ref": f"CP-{i:06d}",
                "entity_id": str(uuid.UUID(int=i)),
                "status": "open",
                "caseworker_id": 2,
                "risk_level": "high",
                "next_contact_due": date(2024, 6, 1),
                "version": 1,
                "properties": {},
                "provenance": {},
                "open_conflicts": 0,
                "opened_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        s.execute(insert(Case), rows)
        s.commit()
        admin = s.get(User, 1)
        assert admin is not None
        tracemalloc.start()
        t0 = time.perf_counter()
        size = 0
        for chunk in device_lists.stream_list(s, "cases.csv", admin):
            size += len(chunk)
        dt = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t1 = time.perf_counter()
        token = device_lists.list_hash(s, "cases.csv", admin)
        dh = time.perf_counter() - t1
    print(
        f"cases.csv, {n} cases:            {dt:8.2f} s, {size / 1e6:.1f} MB, "
        f"peak traced memory {peak / 1e6:.1f} MB (tracemalloc slows the stream)"
    )
    print(f"list_hash over {n} cases:        {dh * 1000:8.1f} ms ({token})")
    with Session(engine) as s:
        admin = s.get(User, 1)
        assert admin is not None
        t0 = time.perf_counter()
        for _ in device_lists.stream_list(s, "cases.csv", admin):
            pass
        print(f"cases.csv untraced:                {time.perf_counter() - t0:8.2f} s")
    engine.dispose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        bench_fold()
        bench_rebuild(Path(d))
        bench_cases_csv(Path(d))
