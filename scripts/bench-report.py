#!/usr/bin/env python3
"""Prints the benchmark results in build/bench/*.json as markdown: every benchmark's value and
the ratios the performance targets are stated in (DESIGN §9, benchmarks/README.md).

Usage: scripts/bench-report.py [RESULTS_DIR_OR_JSON ...]   (default: build/bench)
Exit status: 0 when every target ratio is met, 1 when one is missed, 2 when one cannot be
computed (a benchmark is missing or failed).
"""
import glob
import json
import os
import re
import sys

TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

# (label, numerator, denominator, denominator multiplier, target or None for information only)
RATIOS = [
    ("batched chain+sign append ÷ raw Ed25519 sign (1 core)",
     "BM_append_batch_chain_sign_sqlite", "BM_raw_ed25519_sign", 1, 1.3),
    ("batched chain append ÷ raw batched INSERT",
     "BM_append_batch_chain_sqlite", "BM_raw_insert_batch_sqlite", 1, 0.6),
    ("verify, 2 threads ÷ (raw Ed25519 verify × 2)",
     "BM_verify_sqlite/threads:2", "BM_raw_ed25519_verify", 2, 0.9),
    ("verify, 2 threads ÷ raw Ed25519 verify on both cores at once",
     "BM_verify_sqlite/threads:2", "BM_raw_ed25519_verify_2cores/threads:2", 1, None),
    ("raw Ed25519 verify on both cores ÷ (one core × 2)",
     "BM_raw_ed25519_verify_2cores/threads:2", "BM_raw_ed25519_verify", 2, None),
    ("batched none append ÷ raw batched INSERT",
     "BM_append_batch_none_sqlite", "BM_raw_insert_batch_sqlite", 1, None),
    ("single chain append ÷ raw single INSERT",
     "BM_append_single_chain_sqlite", "BM_raw_insert_single_sqlite", 1, None),
    ("single chain+sign append ÷ raw single INSERT",
     "BM_append_single_chain_sign_sqlite", "BM_raw_insert_single_sqlite", 1, None),
    ("single chain+sign, synchronous=FULL ÷ NORMAL",
     "BM_append_single_chain_sign_sqlite_durable", "BM_append_single_chain_sign_sqlite", 1, None),
    ("verify, 1 thread ÷ raw Ed25519 verify",
     "BM_verify_sqlite/threads:1", "BM_raw_ed25519_verify", 1, None),
    # PostgreSQL (postgres_bench). "Within 1.3x of a raw INSERT round trip" is a rate ratio >= 1/1.3.
    ("PostgreSQL: batched chain append ÷ raw COPY",
     "BM_pg_batch_chain", "BM_pg_raw_copy_batch", 1, 0.7),
    ("PostgreSQL: single none append ÷ raw single INSERT (1/1.3 = 0.769)",
     "BM_pg_single_none", "BM_pg_raw_insert_single", 1, 0.769),
    ("PostgreSQL: single chain append ÷ raw single INSERT (1/1.3 = 0.769)",
     "BM_pg_single_chain", "BM_pg_raw_insert_single", 1, 0.769),
    ("PostgreSQL: single chain+sign append ÷ raw single INSERT (1/1.3 = 0.769)",
     "BM_pg_single_chain_sign", "BM_pg_raw_insert_single", 1, 0.769),
    ("PostgreSQL: batched none append ÷ raw COPY",
     "BM_pg_batch_none", "BM_pg_raw_copy_batch", 1, None),
    ("PostgreSQL: batched chain+sign append ÷ raw COPY",
     "BM_pg_batch_chain_sign", "BM_pg_raw_copy_batch", 1, None),
    ("PostgreSQL: batched chain, row-level security (multi-row INSERT) ÷ raw COPY",
     "BM_pg_batch_chain_tenant", "BM_pg_raw_copy_batch", 1, None),
    ("PostgreSQL: 2 writers on 2 tenants ÷ 1 writer",
     "BM_pg_tenants/threads:2", "BM_pg_tenants/threads:1", 1, None),
    ("PostgreSQL: 8 writers on 8 tenants ÷ 1 writer",
     "BM_pg_tenants/threads:8", "BM_pg_tenants/threads:1", 1, None),
]

# Suffixes Google Benchmark appends to a name for run settings (not part of the benchmark's name).
SETTING = re.compile(r"/(min_time:[^/]*|real_time|manual_time|iterations:\d+|repeats:\d+|min_warmup_time:[^/]*)")


def short_name(name):
    return SETTING.sub("", name)


def load(paths):
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.json"))) if os.path.isdir(p) else [p]
    results, contexts = {}, []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"warning: skipping {path}: {e}", file=sys.stderr)
            continue
        if not isinstance(data, dict) or "benchmarks" not in data:
            continue
        contexts.append((os.path.basename(path), data.get("context", {})))
        runs = data["benchmarks"]
        has_mean = {b.get("run_name") for b in runs if b.get("aggregate_name") == "mean"}
        for b in runs:
            run_name = b.get("run_name", b.get("name", ""))
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") != "mean":
                    continue
            elif run_name in has_mean:
                continue  # repetitions: report their mean only
            name = short_name(run_name)
            unit = TO_US.get(b.get("time_unit", "ns"), 1e-3)
            results[name] = {
                "file": os.path.basename(path),
                "error": b.get("error_message") if b.get("error_occurred") else None,
                "iterations": b.get("iterations"),
                "real_us": b.get("real_time", 0.0) * unit,
                "cpu_us": b.get("cpu_time", 0.0) * unit,
                "items_per_second": b.get("items_per_second"),
                "counters": {k: v for k, v in b.items() if k in ("canonical_bytes", "ledger_spans", "build_seconds", "db_rows", "cpu_cores")},
            }
    return results, contexts


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} k/s"
    return f"{v:.1f} /s"


def fmt_us(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} ms"
    return f"{v:.2f} µs"


def fmt_counters(c):
    parts = []
    if "canonical_bytes" in c:
        parts.append(f"{c['canonical_bytes']:.0f} B canonical")
    if "ledger_spans" in c:
        parts.append(f"{c['ledger_spans']:,.0f}-span ledger")
    if "db_rows" in c:
        parts.append(f"{c['db_rows']:,.0f} rows at end")
    if "cpu_cores" in c:
        parts.append(f"{c['cpu_cores']:.2f} cores busy")
    if "build_seconds" in c:
        parts.append(f"built in {c['build_seconds']:.0f} s")
    return ", ".join(parts)


def main():
    paths = sys.argv[1:] or [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench")]
    results, contexts = load(paths)
    if not results:
        print("no benchmark results found in " + ", ".join(paths) + " (run `make bench` first)", file=sys.stderr)
        return 2

    print("## Benchmark results\n")
    for fname, ctx in contexts:
        load_avg = ctx.get("load_avg")
        load_txt = ", load average " + " / ".join(f"{x:.2f}" for x in load_avg) if load_avg else ""
        print(f"- `{fname}`: {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs @ "
              f"{ctx.get('mhz_per_cpu', '?')} MHz{load_txt}")
    print()
    print("| benchmark | items/s | wall time/op | CPU time/op (main thread) | iterations | notes |")
    print("|---|---:|---:|---:|---:|---|")
    for name in sorted(results, key=lambda n: (results[n]["file"], n)):
        r = results[name]
        if r["error"]:
            print(f"| `{name}` | FAILED | | | | {r['error']} |")
            continue
        print(f"| `{name}` | {fmt_rate(r['items_per_second'])} | {fmt_us(r['real_us'])} | {fmt_us(r['cpu_us'])} | "
              f"{r['iterations']} | {fmt_counters(r['counters'])} |")

    print("\n## Ratios (items/s ÷ items/s, same binary)\n")
    print("| ratio | value | target | |")
    print("|---|---:|---:|---|")
    status = 0
    for label, num, den, mult, target in RATIOS:
        a, b = results.get(num), results.get(den)
        ok_inputs = a and b and not a["error"] and not b["error"] and a["items_per_second"] and b["items_per_second"]
        target_txt = f"≥ {target}" if target is not None else "(info)"
        if not ok_inputs:
            missing = [n for n, r in ((num, a), (den, b)) if not r or r["error"] or not r["items_per_second"]]
            print(f"| {label} | n/a | {target_txt} | missing: {', '.join(missing)} |")
            if target is not None:
                status = max(status, 2)
            continue
        value = a["items_per_second"] / (b["items_per_second"] * mult)
        verdict = "" if target is None else ("met" if value >= target else "**missed**")
        if target is not None and value < target:
            status = max(status, 1)
        print(f"| {label} | {value:.3f} | {target_txt} | {verdict} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
