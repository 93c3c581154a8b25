"""Ingest benchmark: real gunicorn on loopback, C concurrent Collect-like clients.

    python tests/benchmarks/bench_ingest.py [--n 4000] [--clients 8] [--attachment-kib 0]
                                           [--postgres URL] [--workers 3] [--threads 8]
                                           [--head]

Each submission is a distinct ~2 KB case plan (a new case each) built from xlsforms/case_plan;
every POST is answered only after the submission is committed and merged into its case.
Prints submissions/s, latency percentiles and the server's peak RSS (all processes).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyxform.xls2xform import convert  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from tests.collect import CollectClient, fill_instance, multipart  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its children, in KiB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                pids.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its children so far, in seconds."""
    total = 0.0
    pids = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            with open(f"/proc/{p}/task/{p}/children") as fh:
                pids.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total


def plan_submission(xform: str, n: int) -> bytes:
    entity = str(uuid.uuid4())
    ref = f"BENCH-{n:07d}-{random.randrange(10**6):06d}"
    answers = {
        "about": {
            "plan_type": "new",
            "new_case_ref": ref,
            "case_ref": ref,
            "new_case_id": entity,
            "caseworker": "cw1",
            "plan_date": "2026-11-20",
            "risk_level": "medium",
            "risk_summary": "Caregiver stress; school attendance dropped.",
        },
        "needs_group": {
            "needs": [
                {
                    "need_category": "psychosocial",
                    "need_key": "psychosocial",
                    "need_title": "Psychosocial support",
                    "how_addressed": "Weekly group sessions",
                    "need_owner": "cw1",
                    "need_due": "2026-12-15",
                    "need_status": "open",
                },
                {
                    "need_category": "education",
                    "need_key": "education",
                    "need_title": "Education",
                    "how_addressed": "Re-enrol at the local school",
                    "need_owner": "school liaison",
                    "need_due": "2027-01-10",
                    "need_status": "open",
                },
            ]
        },
        "services_group": {
            "services": [
                {
                    "service_category": "health",
                    "service_key": "health",
                    "service_title": "Clinic",
                    "service_by": "District clinic",
                    "urgency": "soon",
                    "service_due": "2026-12-01",
                    "referral_status": "referred",
                }
            ]
        },
        "actions_group": {
            "actions": [
                {
                    "action_what": "Home visit with caregiver",
                    "action_owner": "cw1",
                    "action_due": "2026-11-29",
                    "action_status": "open",
                }
            ]
        },
        "follow_up": {
            "contact_frequency_days": "14",
            "child_participation": "interviewed",
            "alternative_care_needed": "no",
            "next_review_date": "2027-02-20",
        },
    }
    return fill_instance(
        xform,
        answers,
        entity={"id": entity, "create": "1", "update": "0", "label": f"{ref} (medium risk)"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    # The `casework serve` defaults on a 2-core machine: cores + 1 workers of 8 threads.
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--attachment-kib", type=int, default=0)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--head", action="store_true", help="HEAD before every POST as Collect")
    parser.add_argument(
        "--data-parent",
        default=str(ROOT / "data"),
        help="where the temporary data folder goes (a real disk, not tmpfs)",
    )
    args = parser.parse_args()
    Path(args.data_parent).mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="casework-bench-", dir=args.data_parent))
    if args.postgres:
        schema = f"bench_{os.getpid()}"
        admin = create_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    port = free_port()
    env = {
        **os.environ,
        "CASEWORK_DATABASE_URL": url,
        "CASEWORK_DATA_DIR": str(tmp / "data"),
        "CASEWORK_BASE_URL": f"http://127.0.0.1:{port}",
        "CASEWORK_ODK_VALIDATE": "false",
    }

    def cli(*a: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", *a],
            env=env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    cli("migrate")
    cli("publish", str(ROOT / "xlsforms" / "case_plan.xlsx"), "--no-validate")
    cli("create-team", "north")
    cli(
        "create-user",
        "cw1",
        "--role",
        "caseworker",
        "--team",
        "north",
        "--password-stdin",
        stdin="benchmark password\n",
    )
    server_url = cli("create-device", "bench-phone", "--user", "cw1").split("Server URL: ")[1]
    server_url = server_url.split()[0]

    xform = convert(xlsform=str(ROOT / "xlsforms" / "case_plan.xlsx"), file_type=".xlsx").xform
    bodies = [plan_submission(xform, i) for i in range(args.n)]
    photo = os.urandom(args.attachment_kib * 1024) if args.attachment_kib else b""
    print(
        f"submission size: {sum(map(len, bodies)) / len(bodies):.0f} bytes"
        + (f" + {len(photo)} byte attachment" if photo else "")
    )

    server_log = (tmp / "server.log").open("w")
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
        stderr=server_log,
    )
    client = CollectClient(server_url)
    for _ in range(100):
        try:
            if client.form_list().status == 200:
                break
        except OSError:
            time.sleep(0.2)

    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(server.pid))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def worker() -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(server_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        path = parts.path + "/submission?deviceID=collect%3Abench"
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop()
            files = [("photo.jpg", photo)] if photo else []
            payload, content_type = multipart(body, files, incomplete=False)
            started = time.perf_counter()
            if args.head:
                conn.request("HEAD", path, headers={"X-OpenRosa-Version": "1.0"})
                conn.getresponse().read()
            conn.request(
                "POST",
                path,
                body=payload,
                headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type},
            )
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 201:
                    failures.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    cpu_before = cpu_seconds(server.pid)
    client_cpu_before = time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(server.pid) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    stop.set()
    server.terminate()
    server.wait(timeout=20)

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(text("submission")))
        cases = conn.scalar(select(func.count()).select_from(text("case_record")))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    engine_name = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"engine: {engine_name}; workers={args.workers}x{args.threads} threads; "
        f"clients={args.clients}; n={args.n}{'; HEAD+POST' if args.head else ''}"
    )
    print(f"throughput: {args.n / wall:.0f} submissions/s ({wall:.1f} s)")
    print(
        f"latency ms: p50 {pct(0.50):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  "
        f"mean {statistics.mean(latencies) * 1000:.1f}"
    )
    print(f"server peak RSS (all processes): {peak / 1024:.0f} MiB")
    # Independent of what else runs on the machine (PostgreSQL's own processes not counted).
    print(f"server CPU per submission (gunicorn processes): {server_cpu * 1000 / args.n:.1f} ms")
    # The clients share the machine's cores with the server: their CPU bounds the rate too.
    print(f"client CPU per submission (this process): {client_cpu * 1000 / args.n:.1f} ms")
    print(f"stored submissions: {stored}; case records: {cases}; non-201 answers: {len(failures)}")
    if failures:
        from collections import Counter

        print(
            f"answers other than 201: {dict(Counter(failures))}; server log: {tmp / 'server.log'}"
        )
    if failures or stored != args.n:
        sys.exit(1)


if __name__ == "__main__":
    main()
