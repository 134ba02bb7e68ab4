"""AWS calls and worker CPU per small file, counted on the wire.

Puts a counting HTTP proxy between one `esteira worker --until-idle` and the local stack's AWS endpoint
(moto), uploads --files one-row files, and prints every request the worker sent, by service and operation,
per file. It needs nothing from the worker itself, so it measures any binary, before or after a change.
The worker's CPU (user + system, from wait4) is divided by the files too, and by the GB uploaded (meaningful
with large files: `--files 10 --rows 400000`).

The worker's start (queue lookups) and its idle exit (two empty polls, queue attributes) are in the totals:
with a few hundred files they add well under one call per file; the "per file" column is totals / files.
The S3 event's SendMessage into the queue is sent by S3, not the worker: it is not counted here, but
bench/cost/estimate.py adds it.

    source .local/env && .local/venv/bin/python bench/cost/count_calls.py [--files 200] [--rows 1] [--json]
"""
import argparse
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


def operation(service, method, path, headers, body):
    target = headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if body and b"Action=" in body[:2000]:
        return urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
    if service == "s3":
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        has_key = len([p for p in parts.path.split("/") if p]) >= 2  # path style: /bucket/key
        if not has_key:
            sub = next(iter(query), "")
            return {"GET": f"ListObjects/{sub}" if sub else "ListObjects", "PUT": f"PutBucket/{sub}",
                    "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method)
        if "uploadId" in query or "uploads" in query:
            return {"POST": "CreateOrCompleteMultipartUpload", "PUT": "UploadPart"}.get(method, method)
        return {"GET": "GetObject", "PUT": "CopyObject" if "x-amz-copy-source" in headers else "PutObject",
                "HEAD": "HeadObject", "DELETE": "DeleteObject", "POST": "PostObject"}.get(method, method)
    return method


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None
    counts = Counter()
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _any(self):
        body = self._body()
        m = SCOPE.search(self.headers.get("Authorization", ""))
        service = m.group(1) if m else "unsigned"
        op = operation(service, self.command, self.path, self.headers, body)
        with self.lock:
            self.counts[(service, op)] += 1
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


def mysql(sql, database="mysql"):
    sock = os.environ["ESTEIRA_MYSQL_SOCKET"]
    subprocess.run(["mariadb", "--no-defaults", "--protocol=socket", f"--socket={sock}", "-uroot", "-N", "-B",
                    database, "-e", sql], check=True, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rows", type=int, default=1, help="rows per file")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--json", action="store_true", help="one JSON object (for bench/cost/estimate.py --calls)")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/esteira"))
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} is missing: run `swift build -c release --product esteira` or pass --binary")

    up = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"])
    Counting.upstream = (up.hostname, up.port or 80)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    run = uuid.uuid4().hex[:8]
    name = f"esteira-calls-{run}"
    database = f"esteira_calls_{run}"
    routes = os.path.join(tempfile.gettempdir(), f"{name}.yaml")
    with open(routes, "w") as f:
        f.write("routes:\n  - name: calls\n    tenant: acme\n    pattern: \"*.csv\"\n    table: orders\n")
    base = os.environ["ESTEIRA_MYSQL_URL"].rsplit("/", 1)[0]
    env = dict(os.environ, ESTEIRA_BUCKET=name, ESTEIRA_QUEUE=name, ESTEIRA_DLQ=f"{name}-dlq", ESTEIRA_JOBS_TABLE=name,
               ESTEIRA_ROUTES=routes, ESTEIRA_LOG_LEVEL="warning", ESTEIRA_MYSQL_URL=f"{base}/{database}")
    s3, sqs, ddb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    try:
        subprocess.run([a.binary, "setup"], env=env, check=True, capture_output=True)
        mysql(f"CREATE DATABASE {database}")
        mysql("CREATE TABLE orders (order_id BIGINT PRIMARY KEY, customer VARCHAR(200) NOT NULL, "
              "amount DECIMAL(12,2) NOT NULL)", database)
        uploaded = 0
        for i in range(a.files):
            rows = "\n".join(f"{i * a.rows + r},customer {r % 1000},{r % 1000}.50" for r in range(a.rows))
            body = f"order_id,customer,amount\n{rows}\n".encode()
            uploaded += len(body)
            s3.put_object(Bucket=name, Key=f"acme/data/f-{i:05d}.csv", Body=body)
        # Only the worker goes through the proxy.
        wenv = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}")
        started = time.time()
        proc = subprocess.Popen([a.binary, "worker", "--until-idle", "--no-http", "--concurrency",
                                 str(a.concurrency)], env=wenv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - started
        if proc.returncode != 0:
            sys.exit(f"worker failed ({proc.returncode}): {err.decode()[-2000:]}")
        cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
    finally:
        server.shutdown()
        try:
            token = None
            while True:
                page = s3.list_objects_v2(Bucket=name, **({"ContinuationToken": token} if token else {}))
                objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objs:
                    s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
                if not page.get("IsTruncated"):
                    break
                token = page["NextContinuationToken"]
            s3.delete_bucket(Bucket=name)
        except Exception as e:  # noqa: BLE001 - report, keep cleaning
            print(f"cleanup: bucket {name}: {e}", file=sys.stderr)
        for q in (name, f"{name}-dlq"):
            try:
                sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=q)["QueueUrl"])
            except Exception as e:  # noqa: BLE001
                print(f"cleanup: queue {q}: {e}", file=sys.stderr)
        try:
            ddb.delete_table(TableName=name)
        except Exception as e:  # noqa: BLE001
            print(f"cleanup: table {name}: {e}", file=sys.stderr)
        mysql(f"DROP DATABASE IF EXISTS {database}")
        os.unlink(routes)

    counts = dict(sorted(Counting.counts.items()))
    per_service = Counter()
    for (svc, _), n in counts.items():
        per_service[svc] += n
    if a.json:
        print(json.dumps({"files": a.files, "rows": a.rows, "bytes_per_file": uploaded / a.files,
                          "cpu_ms_per_file": cpu_ms / a.files, "cpu_s_per_gb": cpu_ms / 1000 / (uploaded / 1e9),
                          "calls_per_file": {f"{s}.{o}": n / a.files for (s, o), n in counts.items()}}))
        return
    print(f"{a.files} files of {a.rows} row(s), one worker, --concurrency {a.concurrency}: {wall:.1f} s wall, "
          f"{cpu_ms / a.files:.2f} ms worker CPU per file; {uploaded / a.files / 1e6:.3f} MB per file, "
          f"{cpu_ms / 1000 / (uploaded / 1e9):.2f} CPU-s per GB")
    print("| service | operation | requests | per file |")
    print("|---|---|---:|---:|")
    for (svc, op), n in counts.items():
        print(f"| {svc} | {op} | {n} | {n / a.files:.2f} |")
    for svc, n in sorted(per_service.items()):
        print(f"| {svc} | **all** | {n} | {n / a.files:.2f} |")
    total = sum(per_service.values())
    print(f"| all | **all** | {total} | {total / a.files:.2f} |")


if __name__ == "__main__":
    main()
