"""AWS side of `make demo`, through boto3 against the local stack: reset, upload, report.

Run with the venv's python after `source .local/env`; boto3 reads the same variables esteira does.
"""
import hashlib
import hmac
import json
import os
import pathlib
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3

BUCKET = os.environ["ESTEIRA_BUCKET"]
QUEUE = os.environ["ESTEIRA_QUEUE"]
DLQ = os.environ["ESTEIRA_DLQ"]
JOBS = os.environ["ESTEIRA_JOBS_TABLE"]
REJECTS_PREFIX = "esteira-rejects/"

s3 = boto3.client("s3")
sqs = boto3.client("sqs")
ddb = boto3.client("dynamodb")


def reset():
    """Start from a clean picture: empty queues, no job history, no objects."""
    for name in (QUEUE, DLQ):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        # PurgeQueue may run once a minute only; receive-and-delete has no such limit.
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    for page in ddb.get_paginator("scan").paginate(TableName=JOBS, ProjectionExpression="pk"):
        for item in page["Items"]:
            ddb.delete_item(TableName=JOBS, Key={"pk": item["pk"]})
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


def upload(folder):
    root = pathlib.Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        print(f"  uploaded s3://{BUCKET}/{key}")


def report():
    print("\nFiles (DynamoDB jobs table):")
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=JOBS):
        # Budget items (load_budget: pk budget#…) share the table; only files have an s3_key.
        items.extend(i for i in page["Items"] if "s3_key" in i)
    for it in sorted(items, key=lambda i: i["s3_key"]["S"]):
        status = it["status"]["S"]
        line = f"  {status:<9} s3://{it['s3_bucket']['S']}/{it['s3_key']['S']}"
        if status == "SUCCEEDED":
            line += f"  rows={it.get('rows_loaded', {}).get('N', '0')} rejected={it.get('rows_rejected', {}).get('N', '0')}"
        else:
            line += f"\n            reason: {it.get('error', it.get('last_error', {'S': '-'}))['S']}"
        print(line)

    print("\nRejected rows (written beside the source):")
    found = False
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=REJECTS_PREFIX):
        for obj in page.get("Contents", []):
            found = True
            print(f"  s3://{BUCKET}/{obj['Key']}")
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
            for row in body.strip().splitlines()[1:]:
                print(f"      {row}")
    if not found:
        print("  none")

    print("\nDead-letter queue:")
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    seen = {}
    # Peek without hiding: visibility 0 leaves each message where it is.
    for _ in range(5):
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   MessageAttributeNames=["All"], WaitTimeSeconds=0)
        for m in resp.get("Messages", []):
            seen[m["MessageId"]] = m
    if not seen:
        print("  empty")
    for m in seen.values():
        attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
        print(f"  {attrs.get('esteira.error-code', '?'):<14} {attrs.get('esteira.key', '(no key)')}")
        print(f"      {attrs.get('esteira.error-message', '')}")
    main_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    left = sqs.get_queue_attributes(QueueUrl=main_url, AttributeNames=["All"])["Attributes"]
    print(f"\nMain queue: {left['ApproximateNumberOfMessages']} waiting, "
          f"{left['ApproximateNumberOfMessagesNotVisible']} in flight")


def verify_signature(header, body, secret, tolerance=300):
    """Checks X-Esteira-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "t.body">): what a receiver does."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = parts.get("t", "")
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return t.isdigit() and abs(time.time() - int(t)) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def webhook(port_file):
    """A partner's webhook receiver on loopback: prints each notification and whether its signature holds."""
    secret = os.environ["ESTEIRA_NOTIFY_WEBHOOK_SECRET"]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 20:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            ok = verify_signature(self.headers.get("X-Esteira-Signature", ""), body, secret)
            self.send_response(204 if ok else 401)
            self.end_headers()
            event = json.loads(body)
            print(f"  webhook received {event['event']} for s3://{event['bucket']}/{event['key']}"
                  f" (signature {'verified' if ok else 'INVALID'})", flush=True)
            for name in ("route", "code", "reason", "rejects_uri", "rows_loaded", "rows_rejected"):
                if event.get(name) is not None:
                    print(f"      {name}: {event[name]}", flush=True)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    pathlib.Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "reset":
        reset()
    elif cmd == "upload":
        upload(sys.argv[2])
    elif cmd == "report":
        report()
    elif cmd == "webhook":
        webhook(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
