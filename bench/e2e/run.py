"""End-to-end benchmark: files uploaded to S3 (moto) → esteira worker processes → MariaDB.

For 1, 2 and 4 worker processes it uploads a fresh batch (many small files and a few large ones),
starts the workers with --until-idle, and reports files/s, rows/s and the latency from upload to
committed rows (p50, p99, from the MySQL ledger's loaded_at against the upload time). The ratio
column compares each run with the single-worker run measured in the same invocation.

Run from the repository root after `make services-up`:
    swift build -c release
    source .local/env && .local/venv/bin/python bench/e2e/run.py [--small 1000 --large 10 --large-rows 200000]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def run_once(binary, workers, small, large, large_rows, concurrency):
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
    uploads = {}
    jobs = [(f"acme/data/small-{i}.csv", i * 10, 10) for i in range(small)]
    jobs += [(f"acme/data/large-{i}.csv", 10_000_000 + i * large_rows, large_rows) for i in range(large)]
    total_rows = sum(r for _, _, r in jobs)
    bodies = {k: csv_bytes(s, r) for k, s, r in jobs}

    def put(key):
        s3.put_object(Bucket=names["bucket"], Key=key, Body=bodies[key])
        uploads[key] = time.time()

    started = time.time()
    procs = [subprocess.Popen([binary, "worker", "--until-idle", "--no-http", "--concurrency", str(concurrency)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, bodies))
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"worker failed ({p.returncode}): {err.decode()[-2000:]}")
    elapsed = time.time() - started

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
    return {"workers": workers, "seconds": elapsed, "files_s": len(jobs) / elapsed, "rows_s": total_rows / elapsed,
            "p50": statistics.median(latencies), "p99": p99}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10)
    ap.add_argument("--large-rows", type=int, default=200_000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--concurrency", type=int, default=2, help="files in hand per worker process")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/esteira"))
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} is missing: run `swift build -c release` first")
    results = [run_once(a.binary, int(w), a.small, a.large, a.large_rows, a.concurrency) for w in a.workers.split(",")]
    base = results[0]
    print(f"{a.small} small files (10 rows) + {a.large} large files ({a.large_rows} rows), concurrency {a.concurrency} per worker")
    print("| workers | wall s | files/s | rows/s | vs 1 worker | p50 upload→commit s | p99 s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['workers']} | {r['seconds']:.1f} | {r['files_s']:.1f} | {r['rows_s']:.0f} | "
              f"{r['rows_s'] / base['rows_s']:.2f}× | {r['p50']:.2f} | {r['p99']:.2f} |")


if __name__ == "__main__":
    main()
