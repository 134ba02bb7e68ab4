"""End-to-end benchmark: files uploaded to S3 (moto) → esteira worker processes → MariaDB.

For each count of worker processes (default 1, 2 and 4) it uploads a fresh batch (many small files and a
few large ones), starts the workers, waits until every file is committed and every message deleted, and
reports per run:

- files/s, rows/s and the latency from upload to committed rows (p50, p99, from the MySQL ledger's
  loaded_at against the upload time); the ratio column compares each run with the first run;
- AWS calls per file by service, scraped from each worker's /metrics (`esteira_aws_requests_total`, every
  HTTP request sent, retries included) just before the workers are stopped; `--calls` prints them by
  operation too;
- worker CPU milliseconds per file: user + system time of the worker processes (from wait4 once they
  exit), divided by the files of the run. Start-up and the idle polls until the end of the run count too,
  so use enough files (1,000) for the per-file figure to mean something.

`--one-row N` is the small-file mode: N files of one row each and no large file, the cost of a small file.
moto is the bottleneck for files/s on one machine, so calls and CPU per file are the figures to compare.

Run from the repository root after `make services-up`:
    swift build -c release --product esteira
    source .local/env && .local/venv/bin/python bench/e2e/run.py [--small 1000 --large 10 --large-rows 200000]
    source .local/env && .local/venv/bin/python bench/e2e/run.py --one-row 1000 --workers 1 --calls
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES = ["sqs", "dynamodb", "s3", "sns", "sts"]
REQUESTS = re.compile(r'^esteira_aws_requests_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.e+]+)$')


def csv_bytes(start, rows):
    out = ["order_id,customer,amount,notes"]
    for i in range(start, start + rows):
        out.append(f'{i},customer {i % 997},{i % 1000}.{i % 100:02d},"note, with comma {i}"')
    return ("\n".join(out) + "\n").encode()


def mysql(sql, database):
    sock = os.environ["ESTEIRA_MYSQL_SOCKET"]
    r = subprocess.run(["mariadb", "--no-defaults", "--protocol=socket", f"--socket={sock}", "-uroot", "-N", "-B",
                        database, "-e", sql], check=True, capture_output=True, text=True)
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    """(service, operation) → requests, from one worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    counts = {}
    for line in text.splitlines():
        m = REQUESTS.match(line.strip())
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
        counts[(labels.get("service", "?"), labels.get("operation", "?"))] = float(m.group("value"))
    return counts


def wait_until(what, check, timeout, procs):
    deadline = time.time() + timeout
    while not check():
        for p in procs:
            if p.poll() is not None:
                sys.exit(f"a worker exited ({p.returncode}) while waiting for {what}: {p.stderr.read().decode()[-2000:]}")
        if time.time() > deadline:
            sys.exit(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.2)


def run_once(binary, workers, jobs, concurrency, timeout):
    run = uuid.uuid4().hex[:8]
    names = {k: f"esteira-bench-{run}{s}" for k, s in [("bucket", ""), ("queue", ""), ("dlq", "-dlq"), ("jobs", "")]}
    database = f"esteira_bench_{run}"
    env = dict(os.environ, ESTEIRA_BUCKET=names["bucket"], ESTEIRA_QUEUE=names["queue"], ESTEIRA_DLQ=names["dlq"],
               ESTEIRA_JOBS_TABLE=names["jobs"], ESTEIRA_LOG_LEVEL="warning")
    subprocess.run([binary, "setup"], env=env, check=True, capture_output=True)
    mysql(f"CREATE DATABASE {database}", "mysql")
    mysql("CREATE TABLE orders (order_id BIGINT PRIMARY KEY, customer VARCHAR(200) NOT NULL, "
          "amount DECIMAL(12,2) NOT NULL, notes TEXT NULL)", database)
    base = env["ESTEIRA_MYSQL_URL"].rsplit("/", 1)[0]
    env["ESTEIRA_MYSQL_URL"] = f"{base}/{database}"
    routes = os.path.join("/tmp", f"esteira-bench-routes-{run}.yaml")
    with open(routes, "w") as f:
        f.write("routes:\n  - name: bench\n    tenant: acme\n    pattern: \"*.csv\"\n    table: orders\n")
    env["ESTEIRA_ROUTES"] = routes

    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=names["queue"])["QueueUrl"]
    uploads = {}
    total_rows = sum(r for _, _, r in jobs)
    bodies = {k: csv_bytes(s, r) for k, s, r in jobs}

    def put(key):
        s3.put_object(Bucket=names["bucket"], Key=key, Body=bodies[key])
        uploads[key] = time.time()

    ports = [free_port() for _ in range(workers)]
    started = time.time()
    procs = [subprocess.Popen([binary, "worker", "--http-port", str(port), "--concurrency", str(concurrency)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for port in ports]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, bodies))

    def committed():
        return int(mysql("SELECT COUNT(*) FROM esteira_ledger", database) or 0) >= len(jobs) if ledger_exists() else False

    def ledger_exists():
        return mysql("SHOW TABLES LIKE 'esteira_ledger'", database).strip() != ""

    def drained():
        a = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) == 0 and int(a["ApproximateNumberOfMessagesNotVisible"]) == 0

    wait_until("every file committed", committed, timeout, procs)
    elapsed = time.time() - started
    wait_until("every message deleted", drained, 60, procs)
    calls = defaultdict(float)
    for port in ports:
        for k, v in scrape(port).items():
            calls[k] += v
    cpu = 0.0
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        if p.returncode != 0:
            sys.exit(f"worker failed ({p.returncode}): {p.stderr.read().decode()[-2000:]}")

    loaded = mysql("SELECT object_key, UNIX_TIMESTAMP(loaded_at) FROM esteira_ledger", database).split("\n")
    latencies = []
    for line in filter(None, loaded):
        key, at = line.split("\t")
        latencies.append(float(at) - uploads[key])
    rows = int(mysql("SELECT COUNT(*) FROM orders", database))
    mysql(f"DROP DATABASE {database}", "mysql")
    if rows != total_rows or len(latencies) != len(jobs):
        sys.exit(f"incomplete run: {rows}/{total_rows} rows, {len(latencies)}/{len(jobs)} files")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    files = len(jobs)
    return {"workers": workers, "seconds": elapsed, "files_s": files / elapsed, "rows_s": total_rows / elapsed,
            "p50": statistics.median(latencies), "p99": p99, "files": files,
            "cpu_ms": cpu * 1000 / files, "calls": {k: v / files for k, v in calls.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10)
    ap.add_argument("--large-rows", type=int, default=200_000)
    ap.add_argument("--one-row", type=int, metavar="N",
                    help="small-file mode: N files of one row each, no large file (overrides --small/--large)")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--concurrency", type=int, default=2, help="files in hand per worker process")
    ap.add_argument("--calls", action="store_true", help="also print AWS calls per file by operation")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds a run may take before the bench gives up")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/esteira"))
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} is missing: run `swift build -c release --product esteira` first")
    if a.one_row:
        jobs = [(f"acme/data/one-{i}.csv", i, 1) for i in range(a.one_row)]
        title = f"{a.one_row} one-row files"
    else:
        jobs = [(f"acme/data/small-{i}.csv", i * 10, 10) for i in range(a.small)]
        jobs += [(f"acme/data/large-{i}.csv", 10_000_000 + i * a.large_rows, a.large_rows) for i in range(a.large)]
        title = f"{a.small} small files (10 rows) + {a.large} large files ({a.large_rows} rows)"
    results = [run_once(a.binary, int(w), jobs, a.concurrency, a.timeout) for w in a.workers.split(",")]
    base = results[0]
    print(f"{title}, concurrency {a.concurrency} per worker")
    print("| workers | wall s | files/s | rows/s | vs first | p50 upload→commit s | p99 s | worker CPU ms/file | "
          + " | ".join(f"{s} calls/file" for s in SERVICES) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(SERVICES))
    for r in results:
        by_service = defaultdict(float)
        for (service, _), v in r["calls"].items():
            by_service[service] += v
        print(f"| {r['workers']} | {r['seconds']:.1f} | {r['files_s']:.1f} | {r['rows_s']:.0f} | "
              f"{r['rows_s'] / base['rows_s']:.2f}× | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_ms']:.2f} | "
              + " | ".join(f"{by_service[s]:.2f}" for s in SERVICES) + " |")
    if a.calls:
        for r in results:
            print(f"\nAWS calls per file, {r['workers']} worker(s), {r['files']} files:")
            for (service, op), v in sorted(r["calls"].items()):
                print(f"  {service:9} {op:30} {v:.3f}")


if __name__ == "__main__":
    main()
