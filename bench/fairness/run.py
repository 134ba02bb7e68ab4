"""Fairness benchmark: does one tenant's backlog delay another tenant's few files?

For each mode asked for (--modes shared,per_tenant) it makes a fresh bucket, queues, jobs table and MySQL
database, starts --workers worker processes, and measures:

  alone      tenant B uploads --b-files small files on an idle fleet;
  contended  tenant A uploads --a-files small files, then tenant B uploads --b-files.

Latency is upload→commit per file: the time put_object returned against the MySQL ledger's loaded_at. It
prints B's p50 and p99 in both runs, their ratios (contended / alone; target: p99 within 2×), and A's
throughput. The modes are the routes file's `fair_share: {queues: shared | per_tenant}`: shared is today's
single queue (B waits behind A's backlog); per_tenant needs a binary whose `esteira setup --routes` creates
`<queue>-<tenant>` queues and whose workers receive across them. A binary without it is detected and the
mode reported as not supported.

Run from the repository root with the local stack up:
    swift build -c release --product esteira
    source .local/env && .local/venv/bin/python bench/fairness/run.py [--modes shared,per_tenant]
Everything it creates is removed at the end (--keep leaves it for a look).
"""
import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANT_A = "tenanta"
TENANT_B = "tenantb"


def csv_bytes(start, rows):
    out = ["order_id,customer,amount"]
    out += [f"{i},customer {i % 997},{i % 1000}.{i % 100:02d}" for i in range(start, start + rows)]
    return ("\n".join(out) + "\n").encode()


def mysql(sql, database="mysql"):
    sock = os.environ["ESTEIRA_MYSQL_SOCKET"]
    r = subprocess.run(["mariadb", "--no-defaults", "--protocol=socket", f"--socket={sock}", "-uroot", "-N", "-B",
                        database, "-e", sql], check=True, capture_output=True, text=True)
    return r.stdout


def percentile(values, q):
    """Nearest rank: with 20 values, p50 is the 10th and p99 the slowest."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def routes_yaml(mode, with_section):
    text = ""
    if with_section:
        text += f"fair_share:\n  queues: {mode}\n"
    text += "routes:\n"
    for t in (TENANT_A, TENANT_B):
        text += f"  - name: {t}-orders\n    tenant: {t}\n    pattern: \"*.csv\"\n    table: {t}_orders\n"
    return text


def support(binary, env):
    """What this binary understands: (fair_share section accepted, per_tenant accepted, setup --routes, reason)."""
    reasons = []
    ok = {}
    for mode in ("shared", "per_tenant"):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(routes_yaml(mode, True))
        r = subprocess.run([binary, "routes", "check", f.name], env=env, capture_output=True, text=True)
        os.unlink(f.name)
        ok[mode] = r.returncode == 0
        if r.returncode != 0:
            said = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[-1]
            reasons.append(f"`routes check` refuses fair_share.queues: {mode}: {said[:300]}")
    setup_help = subprocess.run([binary, "setup", "--help"], env=env, capture_output=True, text=True).stdout
    setup_routes = "--routes" in setup_help
    if not setup_routes:
        reasons.append("`esteira setup --help` has no --routes option")
    return ok["shared"], ok["per_tenant"] and setup_routes, setup_routes, "; ".join(reasons)


class Stack:
    """One mode's bucket, queues, jobs table and database, all named after a fresh run id."""

    def __init__(self, binary, mode, section, setup_routes, keep):
        self.run = uuid.uuid4().hex[:8]
        self.mode, self.keep, self.binary = mode, keep, binary
        self.bucket = self.queue = self.jobs = f"esteira-fair-{self.run}"
        self.dlq = f"{self.queue}-dlq"
        self.database = f"esteira_fair_{self.run}"
        self.routes = os.path.join(tempfile.gettempdir(), f"esteira-fair-routes-{self.run}.yaml")
        with open(self.routes, "w") as f:
            f.write(routes_yaml(mode, section))
        self.env = dict(os.environ, ESTEIRA_BUCKET=self.bucket, ESTEIRA_QUEUE=self.queue, ESTEIRA_DLQ=self.dlq,
                        ESTEIRA_JOBS_TABLE=self.jobs, ESTEIRA_ROUTES=self.routes, ESTEIRA_LOG_LEVEL="warning")
        base = self.env["ESTEIRA_MYSQL_URL"].rsplit("/", 1)[0]
        self.env["ESTEIRA_MYSQL_URL"] = f"{base}/{self.database}"
        self.s3, self.sqs, self.ddb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
        self.procs, self.logs = [], []
        setup = [binary, "setup"] + (["--routes", self.routes] if setup_routes else [])
        r = subprocess.run(setup, env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            self.cleanup()
            sys.exit(f"esteira setup failed ({r.returncode}): {r.stderr[-2000:]}")
        self.setup_output = r.stdout
        mysql(f"CREATE DATABASE {self.database}")
        for t in (TENANT_A, TENANT_B):
            mysql(f"CREATE TABLE {t}_orders (order_id BIGINT PRIMARY KEY, customer VARCHAR(200) NOT NULL, "
                  "amount DECIMAL(12,2) NOT NULL)", self.database)

    def tenant_queues(self):
        """The per-tenant queues setup made, by name (none on a binary without fair share)."""
        found = []
        for t in (TENANT_A, TENANT_B):
            try:
                self.sqs.get_queue_url(QueueName=f"{self.queue}-{t}")
                found.append(f"{self.queue}-{t}")
            except self.sqs.exceptions.QueueDoesNotExist:
                pass
        return found

    def start_workers(self, count, concurrency):
        for i in range(count):
            log = open(os.path.join(tempfile.gettempdir(), f"esteira-fair-{self.run}-worker{i}.log"), "w+")
            self.logs.append(log)
            self.procs.append(subprocess.Popen(
                [self.binary, "worker", "--no-http", "--concurrency", str(concurrency)],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log))

    def check_workers(self):
        for p, log in zip(self.procs, self.logs):
            if p.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"a worker exited ({p.returncode}): {log.read()[-2000:]}")

    def stop_workers(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
            if not self.keep:
                os.unlink(log.name)
        self.procs, self.logs = [], []

    def upload(self, keys, body_of, threads):
        """Uploads keys in parallel; returns {key: time put_object returned}."""
        done = {}

        def put(key):
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body_of(key))
            done[key] = time.time()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, keys))
        return done

    def committed(self, prefix):
        # The worker creates the ledger with its first load.
        if not mysql(f"SHOW TABLES LIKE 'esteira_ledger'", self.database).strip():
            return {}
        out = mysql(f"SELECT object_key, UNIX_TIMESTAMP(loaded_at) FROM esteira_ledger "
                    f"WHERE object_key LIKE '{prefix}%'", self.database)
        return {k: float(t) for k, t in (line.split("\t") for line in out.splitlines() if line)}

    def wait_committed(self, prefix, count, deadline):
        while True:
            got = self.committed(prefix)
            if len(got) >= count:
                return got
            self.check_workers()
            if time.time() > deadline:
                dlq = self.sqs.get_queue_attributes(
                    QueueUrl=self.sqs.get_queue_url(QueueName=self.dlq)["QueueUrl"],
                    AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
                raise RuntimeError(f"timed out: {len(got)}/{count} files under {prefix} committed "
                                   f"({dlq} messages in the DLQ); raise --timeout or look at the worker logs")
            time.sleep(0.5)

    def cleanup(self):
        self.stop_workers()
        if self.keep:
            print(f"  kept: bucket/queue/table {self.bucket}, database {self.database}, routes {self.routes}")
            return
        try:
            token = None
            while True:
                page = self.s3.list_objects_v2(Bucket=self.bucket, **({"ContinuationToken": token} if token else {}))
                objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objs:
                    self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objs, "Quiet": True})
                if not page.get("IsTruncated"):
                    break
                token = page["NextContinuationToken"]
            self.s3.delete_bucket(Bucket=self.bucket)
        except Exception as e:  # noqa: BLE001 - clean up what can be cleaned up, say what could not
            print(f"  cleanup: bucket {self.bucket}: {e}", file=sys.stderr)
        for q in [self.queue, self.dlq] + [f"{self.queue}-{t}" for t in (TENANT_A, TENANT_B)]:
            try:
                self.sqs.delete_queue(QueueUrl=self.sqs.get_queue_url(QueueName=q)["QueueUrl"])
            except self.sqs.exceptions.QueueDoesNotExist:
                pass
            except Exception as e:  # noqa: BLE001
                print(f"  cleanup: queue {q}: {e}", file=sys.stderr)
        try:
            self.ddb.delete_table(TableName=self.jobs)
        except Exception as e:  # noqa: BLE001
            print(f"  cleanup: table {self.jobs}: {e}", file=sys.stderr)
        mysql(f"DROP DATABASE IF EXISTS {self.database}")
        if os.path.exists(self.routes):
            os.unlink(self.routes)


def run_mode(a, mode, section, setup_routes):
    stack = Stack(a.binary, mode, section, setup_routes, a.keep)
    try:
        if mode == "per_tenant":
            queues = stack.tenant_queues()
            if len(queues) != 2:
                return {"mode": mode, "skipped": "setup made no per-tenant queues "
                        f"({stack.queue}-{TENANT_A}, {stack.queue}-{TENANT_B}); this binary does not do fair share yet"}
        stack.start_workers(a.workers, a.concurrency)
        bodies = {}

        def body(key):
            return bodies[key]

        def files(tenant, label, n, first_id):
            keys = [f"{tenant}/data/{label}-{i:05d}.csv" for i in range(n)]
            for i, k in enumerate(keys):
                bodies[k] = csv_bytes(first_id + i * a.rows, a.rows)
            return keys

        # Warm-up: one file per tenant proves every worker is polling, the routes load and the tables exist.
        warm = files(TENANT_A, "warm", 1, 9_000_000) + files(TENANT_B, "warm", 1, 9_000_000)
        stack.upload(warm, body, 2)
        for t in (TENANT_A, TENANT_B):
            stack.wait_committed(f"{t}/data/warm-", 1, time.time() + a.timeout)
        time.sleep(a.settle)

        # (a) B alone on an idle fleet.
        alone_keys = files(TENANT_B, "alone", a.b_files, 0)
        up = stack.upload(alone_keys, body, a.upload_threads)
        got = stack.wait_committed(f"{TENANT_B}/data/alone-", len(alone_keys), time.time() + a.timeout)
        alone = [got[k] - up[k] for k in alone_keys]
        time.sleep(a.settle)

        # (b) A's backlog, then B's few files.
        a_keys = files(TENANT_A, "bulk", a.a_files, 1_000_000)
        b_keys = files(TENANT_B, "contended", a.b_files, 100_000)
        a_started = time.time()
        a_up = stack.upload(a_keys, body, a.upload_threads)
        a_done_at_b = len(stack.committed(f"{TENANT_A}/data/bulk-"))
        b_up = stack.upload(b_keys, body, a.upload_threads)
        got_b = stack.wait_committed(f"{TENANT_B}/data/contended-", len(b_keys), time.time() + a.timeout)
        a_done_after_b = len(stack.committed(f"{TENANT_A}/data/bulk-"))
        got_a = stack.wait_committed(f"{TENANT_A}/data/bulk-", len(a_keys), time.time() + a.timeout)
        contended = [got_b[k] - b_up[k] for k in b_keys]
        a_lat = [got_a[k] - a_up[k] for k in a_keys]
        a_seconds = max(got_a.values()) - a_started
        rows = {t: int(mysql(f"SELECT COUNT(*) FROM {t}_orders", stack.database)) for t in (TENANT_A, TENANT_B)}
        expect_a, expect_b = (1 + a.a_files) * a.rows, (1 + 2 * a.b_files) * a.rows
        if rows[TENANT_A] != expect_a or rows[TENANT_B] != expect_b:
            raise RuntimeError(f"row counts: {TENANT_A} {rows[TENANT_A]}/{expect_a}, {TENANT_B} {rows[TENANT_B]}/{expect_b}")
        return {
            "mode": mode,
            "alone_p50": percentile(alone, 0.5), "alone_p99": percentile(alone, 0.99),
            "cont_p50": percentile(contended, 0.5), "cont_p99": percentile(contended, 0.99),
            "a_files_s": a.a_files / a_seconds, "a_seconds": a_seconds,
            "a_p50": statistics.median(a_lat), "a_p99": percentile(a_lat, 0.99),
            "a_upload_s": max(a_up.values()) - a_started,
            "backlog_at_b": a.a_files - a_done_at_b, "a_done_after_b": a_done_after_b,
        }
    finally:
        stack.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="shared,per_tenant", help="comma list of shared, per_tenant")
    ap.add_argument("--a-files", type=int, default=2000, help="tenant A's backlog")
    ap.add_argument("--b-files", type=int, default=20, help="tenant B's files, alone and contended")
    ap.add_argument("--rows", type=int, default=10, help="rows per file")
    ap.add_argument("--workers", type=int, default=3, help="worker processes")
    ap.add_argument("--concurrency", type=int, default=4, help="files in hand per worker process")
    ap.add_argument("--upload-threads", type=int, default=16)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of idle fleet before each measured phase")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a phase's commits")
    ap.add_argument("--keep", action="store_true", help="leave the bucket, queues, table and database")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/esteira"))
    a = ap.parse_args()
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if bad := [m for m in modes if m not in ("shared", "per_tenant")]:
        sys.exit(f"--modes: unknown mode(s) {bad}; use shared and/or per_tenant")
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} is missing: run `swift build -c release --product esteira` or pass --binary")
    shared_ok, per_tenant_ok, setup_routes, why = support(a.binary, dict(os.environ))
    results = []
    for mode in modes:
        if mode == "per_tenant" and not per_tenant_ok:
            results.append({"mode": mode, "skipped": f"this binary does not support per_tenant yet ({why})"})
            continue
        # A binary from before fair share refuses the section: absent means shared, today's single queue.
        results.append(run_mode(a, mode, shared_ok or mode != "shared", setup_routes))

    print(f"Tenant A: {a.a_files} files, then tenant B: {a.b_files} files ({a.rows} rows each); "
          f"{a.workers} workers × --concurrency {a.concurrency}; latency = upload→commit (ledger loaded_at)")
    if not shared_ok:
        print("(this binary has no fair_share section: shared mode ran with the routes file as today)")
    print("| mode | B alone p50 s | B alone p99 s | B contended p50 s | B contended p99 s | p50 ratio | p99 ratio "
          "| p99 ≤ 2× | A files/s | A p50 s | A p99 s | A backlog when B uploaded |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in results:
        if "skipped" in r:
            print(f"| {r['mode']} | not run: {r['skipped']} |")
            continue
        p50r, p99r = r["cont_p50"] / r["alone_p50"], r["cont_p99"] / r["alone_p99"]
        print(f"| {r['mode']} | {r['alone_p50']:.2f} | {r['alone_p99']:.2f} | {r['cont_p50']:.2f} | "
              f"{r['cont_p99']:.2f} | {p50r:.1f}× | {p99r:.1f}× | {'yes' if p99r <= 2 else 'NO'} | "
              f"{r['a_files_s']:.1f} | {r['a_p50']:.1f} | {r['a_p99']:.1f} | {r['backlog_at_b']} |")
    for r in results:
        if "skipped" not in r:
            print(f"{r['mode']}: A's {a.a_files} uploads took {r['a_upload_s']:.1f} s; when B's last file committed, "
                  f"{r['a_done_after_b']} of A's files had committed ({r['a_seconds']:.0f} s for all of A's)")


if __name__ == "__main__":
    main()
