"""What a small file and a GB cost: the Esteira fleet against Transfer Family + Lambda + Glue (docs/COST.md).

Every price is in PRICES with its source; every count comes from a bench run (MEASURED below, or a JSON file
from `bench/cost/count_calls.py --json`, or the flags). Assumptions that no bench here measures are in
ASSUMED and printed as such. The tables it prints are the ones in docs/COST.md.

    .local/venv/bin/python bench/cost/estimate.py                       # the counts measured on 2026-12-06
    .local/venv/bin/python bench/cost/count_calls.py --json > /tmp/calls.json
    .local/venv/bin/python bench/cost/estimate.py --calls /tmp/calls.json
    .local/venv/bin/python bench/cost/estimate.py --sqs 2.1 --ddb-writes 2 --ddb-reads 0 --cpu-ms 4.0
"""
import argparse
import json
import math
import sys

# us-east-1 list prices. "read" is when this repository read the stored copy of the page; "as of" is the
# date the source itself gives, where it gives one.
PRICES = {
    "sqs_request": (0.40 / 1e6, "SQS standard queue, per request (first 100B/month; 64 KB chunks)",
                    "https://cloudburn.io/blog/amazon-sqs-pricing (as of March 2026; read 2026-12-06)"),
    "ddb_wru": (0.625 / 1e6, "DynamoDB on-demand, per write request unit (1 KB)",
                "https://airbyte.com/data-engineering-resources/dynamodb-pricing (read 2026-12-06)"),
    "ddb_rru": (0.125 / 1e6, "DynamoDB on-demand, per read request unit (strongly consistent 4 KB)",
                "https://airbyte.com/data-engineering-resources/dynamodb-pricing (read 2026-12-06)"),
    "s3_put": (0.005 / 1e3, "S3 Standard PUT/COPY/POST/LIST, per request",
               "https://c3x.dev/blog/s3-request-fees-explained (read 2026-12-06)"),
    "s3_get": (0.0004 / 1e3, "S3 Standard GET/HEAD, per request",
               "https://c3x.dev/blog/s3-request-fees-explained (read 2026-12-06)"),
    "fargate_vcpu_h": (0.04048, "Fargate Linux/x86, per vCPU-hour",
                       "https://www.vantage.sh/blog/fargate-pricing (us-east-1; read 2026-12-06)"),
    "fargate_gb_h": (0.004445, "Fargate Linux/x86, per GB-hour",
                     "https://www.vantage.sh/blog/fargate-pricing (us-east-1; read 2026-12-06)"),
    "ec2_m7g_large_h": (0.0816, "EC2 m7g.large on demand (2 vCPU, 8 GiB, Graviton), per hour",
                        "https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/ "
                        "(as of 2026-06-17; read 2026-12-06)"),
    "nlb_h": (0.0225, "Network Load Balancer, per hour (plus NLCUs)",
              "https://clustercost.com/blog/network-load-balancer-pricing-2025 (2025; read 2026-12-06)"),
    "transfer_protocol_h": (0.30, "Transfer Family, per protocol enabled per endpoint-hour",
                            "https://aws.amazon.com/aws-transfer-family/pricing/ as transcribed in "
                            "https://raw.githubusercontent.com/api-evangelist/amazon-transfer-family/refs/heads/main/"
                            "plans/amazon-transfer-family-plans-pricing.yml (page read 2026-09-20; read 2026-12-06)"),
    "transfer_gb": (0.04, "Transfer Family, per GB uploaded or downloaded",
                    "same as above"),
    "lambda_request": (0.20 / 1e6, "Lambda, per request",
                       "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html "
                       "(read 2026-12-06)"),
    "lambda_gb_s": (0.0000166667, "Lambda x86, per GB-second",
                    "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html "
                    "($0.00001667; read 2026-12-06)"),
    "glue_dpu_h": (0.44, "Glue ETL job, per DPU-hour, billed per second, 1-minute minimum",
                   "https://aws.amazon.com/glue/pricing/ as transcribed in https://raw.githubusercontent.com/"
                   "api-evangelist/amazon-glue/refs/heads/main/plans/amazon-glue-plans-pricing.yml (2026-09-20) and "
                   "https://awsnegotiations.com/glue-job-cost-optimization.html (May 2026); the issue states the same"),
}
GLUE = {
    "spark_min_dpu": (2, "a Spark ETL job run has at least 2 DPUs",
                      "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/glue/aws.sdk.kotlin.services.glue.model/"
                      "-job-run/max-capacity.html (2 to 100 DPUs, default 10)"),
    "pyshell_dpu": (0.0625, "a Python shell job can run on 0.0625 DPU", "same page (0.0625 or 1 DPU)"),
    "min_seconds": (60, "1-minute minimum per job run", "the Glue pricing sources above (Spark); for Python shell "
                    "too: https://learndataflow.online/glossary/aws-glue-dpu (read 2026-12-06)"),
}

# Counts measured here. Replace with a newer run: --calls FILE (count_calls.py --json) or the flags.
MEASURED = {
    "source": "bench/cost/count_calls.py --files 300 --rows 1 --json, release build of 0469369, 2026-12-06",
    "calls_per_file": {
        "dynamodb.GetItem": 1.0,
        "dynamodb.UpdateItem": 7.0,
        "s3.GetObject": 1.0,
        "sqs.DeleteMessage": 1.0033,
        "sqs.GetQueueAttributes": 0.0333,
        "sqs.GetQueueUrl": 0.0067,
        "sqs.ReceiveMessage": 0.9767,
    },
    "cpu_ms_per_file": 10.11,
    # Large files: bench/cost/count_calls.py --files 20 --rows 400000 --json (11 MB each), same build and day.
    "cpu_s_per_gb": 10.61,
    "cpu_s_per_gb_source": "count_calls.py --files 20 --rows 400000 (11 MB files), release build, 2026-12-06",
}

# Not measured by any bench here: say so wherever they are used.
ASSUMED = {
    "pod_cpu": 0.5,         # helm/esteira/values.yaml resources.requests.cpu (500m)
    "pod_mem_gb": 1.0,      # values.yaml asks 512Mi; EKS Fargate adds 256 MB and rounds to its 1 GB size
    "ec2_pod_share": 0.25,  # 0.5 vCPU of m7g.large's 2 vCPU (memory 512Mi of 8 GiB is the smaller share)
    "utilisation": 0.5,     # fraction of a pod's CPU request that does work; 1.0 gives the floor
    "ddb_wru_per_write": 1,  # jobs items under 1 KB
    "lambda_ms": 200,       # the chain's Lambda that starts the Glue job: 128 MB for 200 ms
    "lambda_mb": 128,
    "sftp_pod_cpu": 0.25,   # values.yaml sftp resources (200m, 256Mi) at Fargate's 0.25 vCPU / 0.5 GB size
    "sftp_pod_mem_gb": 0.5,
    "hours_month": 730,
    "keda_polling_s": 15,   # values.yaml keda.pollingInterval
}

DDB_WRITES = {"UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
DDB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
S3_PUTS = {"PutObject", "CopyObject", "PostObject", "CreateOrCompleteMultipartUpload", "UploadPart"}
S3_GETS = {"GetObject", "HeadObject"}


def p(key):
    return PRICES[key][0]


def split(calls):
    """calls: {"service.Operation": per file} → SQS requests, DDB writes, DDB reads, S3 PUTs, S3 GETs."""
    out = {"sqs": 0.0, "ddb_w": 0.0, "ddb_r": 0.0, "s3_put": 0.0, "s3_get": 0.0}
    for name, n in calls.items():
        svc, op = name.split(".", 1)
        if svc == "sqs":
            out["sqs"] += n
        elif svc == "dynamodb" and op in DDB_WRITES:
            out["ddb_w"] += n
        elif svc == "dynamodb" and op in DDB_READS:
            out["ddb_r"] += n
        elif svc == "s3" and op in S3_PUTS:
            out["s3_put"] += n
        elif svc == "s3" and op in S3_GETS:
            out["s3_get"] += n
    return out


def money(x):
    if x < 0.01:
        return f"${x:.5f}"
    return f"${x:.4f}" if x < 10 else f"${x:,.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", help="JSON from count_calls.py --json (calls_per_file, cpu_ms_per_file)")
    ap.add_argument("--sqs", type=float, help="worker SQS requests per file (overrides --calls)")
    ap.add_argument("--ddb-writes", type=float)
    ap.add_argument("--ddb-reads", type=float)
    ap.add_argument("--s3-get", type=float)
    ap.add_argument("--s3-put", type=float)
    ap.add_argument("--cpu-ms", type=float, help="worker CPU milliseconds per small file")
    ap.add_argument("--cpu-s-per-gb", type=float, help="worker CPU seconds per GB of large files")
    ap.add_argument("--utilisation", type=float, default=ASSUMED["utilisation"])
    ap.add_argument("--files-per-month", type=float, default=1_000_000, help="for the fixed monthly costs")
    ap.add_argument("--mb-per-file", type=float, default=0.01, help="average upload size, for Transfer's per-GB fee")
    ap.add_argument("--glue-gb-per-dpu-hour", type=float,
                    help="Glue's throughput, if you measured it; without it the per-GB Glue figure is its minimum")
    ap.add_argument("--prices", action="store_true", help="list every price with its source and exit")
    a = ap.parse_args()

    if a.prices:
        for k, (v, what, src) in PRICES.items():
            print(f"{k}: {v:g} — {what} — {src}")
        for k, (v, what, src) in GLUE.items():
            print(f"glue.{k}: {v:g} — {what} — {src}")
        return

    measured = dict(MEASURED)
    if a.calls:
        with open(a.calls) as f:
            data = json.load(f)
        measured = dict(MEASURED, source=a.calls, calls_per_file=data["calls_per_file"],
                        cpu_ms_per_file=data.get("cpu_ms_per_file"))
    c = split(measured["calls_per_file"])
    for flag, key in (("sqs", "sqs"), ("ddb_writes", "ddb_w"), ("ddb_reads", "ddb_r"), ("s3_get", "s3_get"),
                      ("s3_put", "s3_put")):
        if getattr(a, flag) is not None:
            c[key] = getattr(a, flag)
    cpu_ms = a.cpu_ms if a.cpu_ms is not None else measured["cpu_ms_per_file"]
    if cpu_ms is None or not measured["calls_per_file"] and a.sqs is None:
        sys.exit("no counts: pass --calls FILE (bench/cost/count_calls.py --json) or --sqs/--ddb-*/--s3-*/--cpu-ms")

    # Esteira, per file.
    fargate_pod_h = ASSUMED["pod_cpu"] * p("fargate_vcpu_h") + ASSUMED["pod_mem_gb"] * p("fargate_gb_h")
    ec2_pod_h = ASSUMED["ec2_pod_share"] * p("ec2_m7g_large_h")
    pod_s_per_file = cpu_ms / 1000 / (ASSUMED["pod_cpu"] * a.utilisation)
    sqs_req = c["sqs"] + 1  # + the SendMessage S3 makes for the event
    e = {
        f"SQS requests ({c['sqs']:.2f} by the worker + 1 by S3's event)": sqs_req * p("sqs_request"),
        f"DynamoDB writes ({c['ddb_w']:.2f} × {ASSUMED['ddb_wru_per_write']} WRU)":
            c["ddb_w"] * ASSUMED["ddb_wru_per_write"] * p("ddb_wru"),
        f"DynamoDB reads ({c['ddb_r']:.2f}, consistent)": c["ddb_r"] * p("ddb_rru"),
        f"S3 GET/HEAD ({c['s3_get']:.2f})": c["s3_get"] * p("s3_get"),
        f"S3 PUT ({c['s3_put']:.2f}: rejects files only)": c["s3_put"] * p("s3_put"),
        f"worker pod on Fargate ({cpu_ms:.2f} CPU ms at {a.utilisation:.0%} of 0.5 vCPU)":
            pod_s_per_file / 3600 * fargate_pod_h,
    }
    ec2_pod = pod_s_per_file / 3600 * ec2_pod_h

    # The chain, per file: S3 event → Lambda → Glue job run.
    lam = p("lambda_request") + ASSUMED["lambda_mb"] / 1024 * ASSUMED["lambda_ms"] / 1000 * p("lambda_gb_s")
    glue_min_h = GLUE["min_seconds"][0] / 3600
    spark = GLUE["spark_min_dpu"][0] * glue_min_h * p("glue_dpu_h")
    pyshell = GLUE["pyshell_dpu"][0] * glue_min_h * p("glue_dpu_h")
    transfer_per_file = a.mb_per_file / 1024 * p("transfer_gb")

    overridden = [f for f in ("sqs", "ddb_writes", "ddb_reads", "s3_get", "s3_put", "cpu_ms")
                  if getattr(a, f) is not None]
    source = measured["source"]
    if overridden:
        given = ", ".join("--" + f.replace("_", "-") for f in overridden)
        source = f"{given} from the command line; the rest from {source}"
    print(f"Counts: {source}")
    print(f"Per 1,000 small files (us-east-1 list prices; files of {a.mb_per_file:g} MB for the per-GB fees)\n")
    print("| Esteira | per 1,000 files |")
    print("|---|---:|")
    for k, v in e.items():
        print(f"| {k} | {money(1000 * v)} |")
    esteira = sum(e.values())
    print(f"| **total, pods on Fargate** | **{money(1000 * esteira)}** |")
    esteira_ec2 = esteira - list(e.values())[-1] + ec2_pod
    print(f"| total, pods on EC2 m7g.large (a quarter of one per pod) | {money(1000 * esteira_ec2)} |")
    print()
    print("| The chain it replaces | per 1,000 files |")
    print("|---|---:|")
    print(f"| Transfer Family upload fee ($0.04/GB) | {money(1000 * transfer_per_file)} |")
    print(f"| Lambda, 1 invocation ({ASSUMED['lambda_mb']} MB, {ASSUMED['lambda_ms']} ms: assumed) | {money(1000 * lam)} |")
    print(f"| Glue Spark job per file (2 DPU × 1-minute minimum) | {money(1000 * spark)} |")
    print(f"| Glue Python shell job per file (0.0625 DPU × 1-minute minimum) | {money(1000 * pyshell)} |")
    chain_spark = transfer_per_file + lam + spark
    chain_py = transfer_per_file + lam + pyshell
    print(f"| **total with Spark** | **{money(1000 * chain_spark)}** |")
    print(f"| total with Python shell | {money(1000 * chain_py)} |")
    print()
    print(f"Ratio, chain / Esteira on Fargate: {chain_spark / esteira:,.0f}× with Spark, {chain_py / esteira:,.0f}× "
          "with Python shell")

    # Per GB.
    cpu_s_gb = a.cpu_s_per_gb if a.cpu_s_per_gb is not None else MEASURED["cpu_s_per_gb"]
    pod_s_gb = cpu_s_gb / (ASSUMED["pod_cpu"] * a.utilisation)
    esteira_gb = pod_s_gb / 3600 * fargate_pod_h
    print("\nPer GB (large files: the per-request costs above vanish, CPU and per-GB fees remain)\n")
    print("| | per GB |")
    print("|---|---:|")
    print(f"| Esteira worker pods, {cpu_s_gb:.2f} CPU-s/GB (whole worker, measured) at {a.utilisation:.0%} | "
          f"{money(esteira_gb)} |")
    print(f"| Transfer Family upload fee | {money(p('transfer_gb'))} |")
    if a.glue_gb_per_dpu_hour:
        print(f"| Glue Spark at {a.glue_gb_per_dpu_hour:g} GB per DPU-hour (yours) | "
              f"{money(p('glue_dpu_h') / a.glue_gb_per_dpu_hour)} |")
    else:
        print(f"| Glue Spark: at least one run's minimum (not measured here: pass --glue-gb-per-dpu-hour) | "
              f"≥ {money(spark)} per run |")

    # Fixed monthly costs, and what they add per 1,000 files at --files-per-month.
    h = ASSUMED["hours_month"]
    transfer_month = p("transfer_protocol_h") * h
    sftp_pod_h = ASSUMED["sftp_pod_cpu"] * p("fargate_vcpu_h") + ASSUMED["sftp_pod_mem_gb"] * p("fargate_gb_h")
    sftp_month = (sftp_pod_h + p("nlb_h")) * h
    print(f"\nFixed per month ({h} h), and per 1,000 files at {a.files_per_month:,.0f} files a month\n")
    print("| | per month | per 1,000 files |")
    print("|---|---:|---:|")
    print(f"| Transfer Family SFTP endpoint (1 protocol) | {money(transfer_month)} | "
          f"{money(transfer_month / a.files_per_month * 1000)} |")
    print(f"| `esteira sftp`: 1 pod on Fargate + 1 NLB (NLCUs not counted) | {money(sftp_month)} | "
          f"{money(sftp_month / a.files_per_month * 1000)} |")
    keda_month = h * 3600 / ASSUMED["keda_polling_s"] * p("sqs_request")
    idle_month = h * 3600 / 20 * p("sqs_request")
    print(f"| KEDA's queue-depth check, per queue (GetQueueAttributes every {ASSUMED['keda_polling_s']} s; "
          f"per-tenant queues add one each) | {money(keda_month)} | {money(keda_month / a.files_per_month * 1000)} |")
    print(f"| an idle worker pod's long polls (20 s), if minReplicaCount > 0 (pod not counted) | {money(idle_month)} | "
          f"{money(idle_month / a.files_per_month * 1000)} |")
    print("\nNot counted on either side: RDS (the same database), S3 storage and the uploads' PUTs (the same "
          "objects), the EKS control plane (an existing cluster), CloudWatch logs.")


if __name__ == "__main__":
    main()
