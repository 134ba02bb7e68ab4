#!/usr/bin/env python3
"""The reference engines for bench/csv: Python's csv module (parse + type + clean, in the same spirit as
Esteira's contract) and DuckDB's read_csv on one thread. Prints one JSON line like csvbench does.

    reference.py python <file>
    reference.py duckdb <file>
"""
import csv, json, os, resource, sys, time
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

STATUSES = {"new", "paid", "shipped", "cancelled"}
BOOLS = {"true": 1, "false": 0, "1": 1, "0": 0}


def python_engine(path):
    rows = rejected = 0
    cents = Decimal("0.01")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        for record in reader:
            try:
                if len(record) != len(header):
                    raise ValueError("ragged")
                order_id, customer_id, customer, amount, quantity, ordered_at, shipped_at, status, paid, notes = record
                if not customer:
                    raise ValueError("customer required")
                a = Decimal(amount)
                if a != a.quantize(cents) or abs(a) >= Decimal(10) ** 10:
                    raise ValueError("decimal(12,2)")
                typed = (
                    int(order_id), int(customer_id), customer, str(a), int(quantity) if quantity else None,
                    date.fromisoformat(ordered_at).isoformat(),
                    datetime.fromisoformat(shipped_at).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if shipped_at else None,
                    status if status in STATUSES else None, BOOLS[paid], notes or None,
                )
                if typed[7] is None:
                    raise ValueError("enum")
                rows += 1
            except (ValueError, InvalidOperation, KeyError):
                rejected += 1
    return rows, rejected


def duckdb_engine(path):
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 1")  # per core, like the others
    columns = {"order_id": "BIGINT", "customer_id": "INTEGER", "customer": "VARCHAR", "amount": "DECIMAL(12,2)",
               "quantity": "INTEGER", "ordered_at": "DATE", "shipped_at": "TIMESTAMPTZ", "status": "VARCHAR",
               "paid": "BOOLEAN", "notes": "VARCHAR"}
    # Aggregates over every column, so no column can be skipped by projection pushdown.
    row = con.execute(
        "SELECT count(*), sum(order_id), sum(customer_id), sum(length(customer)), sum(amount), sum(quantity), "
        "max(ordered_at), max(shipped_at), count(status), sum(paid::INT), sum(length(notes)) "
        "FROM read_csv(?, header = true, columns = ?, ignore_errors = true)", [path, columns]).fetchone()
    return row[0], None


def main():
    engine, path = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    cpu_start = time.process_time()  # user + system CPU of this process, all its threads
    rows, rejected = (python_engine if engine == "python" else duckdb_engine)(path)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    size = os.path.getsize(path)
    print(json.dumps({"engine": engine, "bytes": size, "seconds": seconds, "mb_per_s": size / 1e6 / seconds,
                      "cpu_seconds": cpu, "mb_per_cpu_s": size / 1e6 / cpu,
                      "rows": rows, "rejected": rejected,
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
