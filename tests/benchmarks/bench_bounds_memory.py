"""Memory of one process receiving hostile submissions through the test client.

    python tests/benchmarks/bench_bounds_memory.py [--n 40] [--answer-mib 5] [--repeats 10000]

Each submission is a real contact log about a case the server does not know (it would wait
in the unlinked queue), with one answer of ``--answer-mib`` MiB and ``--repeats`` instances
of its health referral repeat. Prints the process's RSS before and after, its peak, the
time taken, and what became of the submissions (merged and held, or refused by the bounds).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

import server.models  # noqa: E402, F401  (registers every table)
from server import create_app, db  # noqa: E402
from server.db import Base, make_engine  # noqa: E402
from server.submissions.models import Submission  # noqa: E402
from tests.conftest import app_config  # noqa: E402
from tests.factories import Factory  # noqa: E402
from tests.realforms import contact_log, xlsform_bytes  # noqa: E402

REFERRAL = re.compile(rb"<health_referral>.*?</health_referral>", re.S)


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def hostile(answer_bytes: int, repeats: int) -> bytes:
    xml = contact_log(
        f"CP-HOST-{uuid.uuid4().hex[:8]}",
        str(uuid.uuid4()),
        base_version=1,
        contact_time="2026-11-24T10:00:00Z",
    )
    xml = xml.replace(b"Aunt, by phone", b"x" * answer_bytes)
    match = REFERRAL.search(xml)
    assert match is not None
    return xml[: match.start()] + match.group(0) * repeats + xml[match.end() :]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--answer-mib", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        app = create_app(app_config(url, Path(tmp) / "data"))
        make = Factory(app)
        make.publish_bytes(xlsform_bytes("contact_log"), "contact_log.xlsx")
        make.user("cw1", "caseworker", team="north")
        phone = make.device_client("phone-1", "cw1")
        xml = hostile(int(args.answer_mib * 1024 * 1024), args.repeats)
        assert phone.submit(hostile(10, 1)).status_code == 201  # warm up
        gc.collect()
        before = rss_mib()
        started = time.monotonic()
        for _ in range(args.n):
            instance = f"uuid:{uuid.uuid4()}"
            body = re.sub(
                rb"<instanceID>[^<]*</instanceID>",
                f"<instanceID>{instance}</instanceID>".encode(),
                xml,
            )
            assert phone.submit(body).status_code == 201
        elapsed = time.monotonic() - started
        gc.collect()
        after = rss_mib()
        with app.app_context():
            states = dict(
                db.session()
                .execute(
                    select(Submission.processing_state, func.count()).group_by(
                        Submission.processing_state
                    )
                )
                .all()
            )
        print(
            f"{args.n} submissions of {len(xml) / 1e6:.1f} MB ({args.answer_mib} MiB answer, "
            f"{args.repeats} repeats) in {elapsed:.1f} s; RSS {before:.0f} -> {after:.0f} MiB, "
            f"peak {rss_mib('VmHWM'):.0f} MiB; states {states}"
        )


if __name__ == "__main__":
    main()
