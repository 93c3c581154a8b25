"""Benchmark: CSV ZIP and XLSX exports of a big case-plan form, time and peak memory.

Not collected by pytest (the file name does not start with ``test_``). Usage:

    python tests/benchmarks/bench_export.py                 # 1 000 000 submissions, SQLite
    python tests/benchmarks/bench_export.py --n 100000 --postgres
    python tests/benchmarks/bench_export.py --n 100000 --formats csv
    python tests/benchmarks/bench_export.py --reuse          # fill only if not filled yet

Submissions are generated straight into the tables with batched executemany inserts
(no XML parsing), each with a repeat of 2-3 plan items. Each export then runs in a fresh
child process, so its peak RSS (``ru_maxrss``) measures the export alone, not the fill.
Big CSV exports format rows on worker processes: their CPU time is added to the export's,
and their memory is sampled from /proc (see ``MemorySampler``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The database and form imports are made where they are used: export worker processes
# start by importing this (the main) module, and should weigh what a server's would.

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1/test"
PG_SCHEMA = "exports_bench"
FORM_ID = "case_plan"
BATCH = 10_000

XLSFORM = """| survey |
| | type | name | label |
| | text | case_ref | Case reference |
| | select_one risk | risk_level | Risk |
| | integer | contact_frequency_days | Contact every (days) |
| | date | next_contact | Next contact |
| | text | notes | Notes |
| | begin_repeat | plan_items | Plan items |
| | select_one kinds | kind | Kind |
| | text | title | What |
| | text | owner | Who |
| | date | due_date | By when |
| | end_repeat | | |
| | geopoint | loc | Where |
| choices |
| | list_name | name | label |
| | risk | low | Low |
| | risk | medium | Medium |
| | risk | high | High |
| | kinds | need | Need |
| | kinds | service | Service |
| | kinds | action | Action |
| settings |
| | form_id | version |
| | case_plan | 1 |
"""


def engine_for(args: argparse.Namespace) -> Engine:
    from sqlalchemy import create_engine

    from server.db import make_engine

    if args.postgres:
        return create_engine(args.url, connect_args={"options": f"-csearch_path={args.schema}"})
    return make_engine(f"sqlite:///{args.sqlite}")


def filled(args: argparse.Namespace) -> bool:
    """Whether the database already holds ``--n`` submissions of the form (for --reuse)."""
    from sqlalchemy import text

    if not args.postgres and not Path(args.sqlite).exists():
        return False
    engine = engine_for(args)
    try:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM submission")).scalar_one()
    except Exception:  # no schema, no table: not filled
        return False
    finally:
        engine.dispose()
    return bool(count == args.n)


def fill(args: argparse.Namespace) -> None:
    from pyxform.xls2xform import convert
    from sqlalchemy import create_engine, insert, text

    import server.models  # noqa: F401 - registers every table
    from server.db import Base
    from server.submissions.models import Submission
    from server.xforms.definition import parse_definition
    from server.xforms.models import XForm, XFormVersion

    if args.postgres:
        admin = create_engine(args.url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {args.schema}"))
        admin.dispose()
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.sqlite}{suffix}").unlink(missing_ok=True)
    engine = engine_for(args)
    Base.metadata.create_all(engine)
    xml = convert(xlsform=XLSFORM, file_type=".md").xform
    definition = parse_definition(xml)
    rng = random.Random(7)
    started = time.perf_counter()
    with engine.begin() as conn:
        xform_id = conn.execute(
            insert(XForm).values(form_id=FORM_ID, title="Case plan").returning(XForm.id)
        ).scalar_one()
        version_id = conn.execute(
            insert(XFormVersion)
            .values(
                xform_id=xform_id, version="1", xml=xml, md5="0" * 32,
                definition=definition.to_json(),
            )
            .returning(XFormVersion.id)
        ).scalar_one()  # fmt: skip
    base = datetime(2024, 1, 1, tzinfo=UTC)
    table = Submission.__table__
    done = 0
    while done < args.n:
        batch: list[dict[str, Any]] = []
        for i in range(done, min(done + BATCH, args.n)):
            instance_id = f"uuid:{i:08d}-0000-4000-8000-000000000000"
            items = [
                {
                    "kind": [rng.choice(("need", "service", "action"))],
                    "title": [f"Item {j} for case {i}, with a comma"],
                    "owner": [rng.choice(("caseworker", "health centre", "school"))],
                    "due_date": [f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"],
                }
                for j in range(rng.choice((2, 3)))
            ]
            data = {
                "case_ref": [f"CP-{i:07d}"],
                "risk_level": [rng.choice(("low", "medium", "high"))],
                "contact_frequency_days": [str(rng.choice((7, 14, 30)))],
                "next_contact": ["2024-06-01"],
                "notes": ["Visited at home; child well. Café ok — “quoted”."],
                "plan_items": items,
                "loc": [f"-1.{rng.randint(1000, 9999)} 36.{rng.randint(1000, 9999)} 1700 5"],
                "meta": [{"instanceID": [instance_id]}],
            }
            batch.append(
                {
                    "instance_id": instance_id,
                    "root_instance_id": instance_id,
                    "is_current": True,
                    "xform_id": xform_id,
                    "xform_version_id": version_id,
                    "xml": b"<data/>",
                    "xml_sha256": "0" * 64,
                    "data": data,
                    "is_encrypted": False,
                    "received_at": base + timedelta(seconds=i),
                    "review_state": "received",
                    "processing_state": "applied",
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(table), batch)
        done += len(batch)
        print(f"\rfilled {done:,}/{args.n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if args.postgres:  # planner statistics, as autovacuum keeps them on a live server
        with engine.begin() as conn:
            conn.execute(text("ANALYZE submission"))
    engine.dispose()
    print(f"fill: {args.n:,} submissions in {time.perf_counter() - started:.1f} s")


class MemorySampler(threading.Thread):
    """Samples the resident memory of this process and its children (export workers).

    A spawned worker's ``ru_maxrss`` counts the parent's pages it was forked with before
    it exec'd, so workers are measured from /proc instead: ``VmHWM`` (peak since exec) per
    worker, and the largest sum of ``VmRSS`` over this process and its workers at one
    sampling instant (every 0.2 s) as the peak of the whole export.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.worker_peak_kb = 0
        self.total_peak_kb = 0

    @staticmethod
    def _status(pid: int | str) -> dict[str, str]:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            return {}
        return dict(line.split(":", 1) for line in lines if ":" in line)

    def sample(self) -> None:
        me = os.getpid()
        total = int(self._status(me).get("VmRSS", "0 kB").split()[0])
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            status = self._status(entry.name)
            if status.get("PPid", "").strip() != str(me):
                continue
            total += int(status.get("VmRSS", "0 kB").split()[0])
            hwm = int(status.get("VmHWM", "0 kB").split()[0])
            self.worker_peak_kb = max(self.worker_peak_kb, hwm)
        self.total_peak_kb = max(self.total_peak_kb, total)

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.sample()


def export_child(args: argparse.Namespace) -> None:
    """Runs in the child process: one export, then a JSON line with its figures."""
    from sqlalchemy.orm import Session

    from exports import export_form

    engine = engine_for(args)
    with tempfile.TemporaryDirectory() as tmp, Session(engine) as session:
        path = Path(tmp) / f"export.{args.child}"
        sampler = MemorySampler()
        sampler.start()
        started = time.perf_counter()
        with path.open("wb") as fh:
            summary = export_form(session, FORM_ID, args.child, fh)
        elapsed = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
        size = path.stat().st_size
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, if any
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    from exports import PARALLEL_FROM, PARALLEL_WORKERS

    n_workers = (
        PARALLEL_WORKERS if summary.source_rows >= PARALLEL_FROM and args.child == "csv" else 0
    )
    print(
        json.dumps(
            {
                "format": args.child,
                "elapsed": elapsed,
                "submissions": summary.source_rows,
                "rows": summary.total_rows,
                "tables": summary.tables,
                "bytes": size,
                "peak_rss_mb": rss_mb,
                "workers": n_workers if n_workers > 1 else 0,
                "worker_peak_rss_mb": sampler.worker_peak_kb / 1024,  # the largest worker's
                "total_peak_rss_mb": sampler.total_peak_kb / 1024,  # export and workers, sampled
                # CPU seconds of the whole child and its workers: on a shared machine wall
                # time overstates
                "cpu": usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="submissions to generate")
    parser.add_argument("--postgres", action="store_true", help="use PostgreSQL, not SQLite")
    parser.add_argument("--url", default=POSTGRES_URL, help="PostgreSQL URL (with --postgres)")
    parser.add_argument("--sqlite", default=str(Path(tempfile.gettempdir()) / "casework-bench.db"))
    parser.add_argument("--formats", default="csv,xlsx", help="comma-separated: csv,xlsx")
    parser.add_argument("--schema", default=PG_SCHEMA, help="PostgreSQL schema (with --postgres)")
    parser.add_argument("--no-fill", action="store_true", help="reuse the existing database")
    parser.add_argument(
        "--reuse", action="store_true", help="fill only if the database lacks --n submissions"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        export_child(args)
        return
    if not args.no_fill and not (args.reuse and filled(args)):
        fill(args)
    engine_name = "PostgreSQL" if args.postgres else "SQLite"
    for fmt in args.formats.split(","):
        argv = [
            sys.executable,
            __file__,
            "--child",
            fmt,
            "--sqlite",
            args.sqlite,
            "--url",
            args.url,
            "--schema",
            args.schema,
        ]
        if args.postgres:
            argv.append("--postgres")
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        rate = result["submissions"] / result["elapsed"]
        rss = f"peak RSS {result['peak_rss_mb']:.0f} MB"
        if result.get("workers"):
            each = result["worker_peak_rss_mb"]
            rss += (
                f" + {result['workers']} workers <= {each:.0f} MB each"
                f" (sampled peak of all together {result['total_peak_rss_mb']:.0f} MB)"
            )
        print(
            f"{engine_name} {fmt}: {result['submissions']:,} submissions, "
            f"{result['rows']:,} rows in {result['elapsed']:.1f} s "
            f"({rate:,.0f} submissions/s, {result['rows'] / result['elapsed']:,.0f} rows/s), "
            f"CPU {result.get('cpu', 0):.1f} s, "
            f"file {result['bytes'] / 1e6:.1f} MB, {rss}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
