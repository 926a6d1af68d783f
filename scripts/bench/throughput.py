#!/usr/bin/python3
"""Summarises alternating runs of two commands moving the same BYTES (measure.py's JSON lines):
the median wall time, throughput and cpu, the peak RSS and the exit codes of each, and the ratio
of their throughputs.

usage: throughput.py BYTES HEADER LABEL_A RUNS_A LABEL_B RUNS_B RATIO_LINE
  RUNS_*: measure.py's lines, one per run; HEADER is printed after "bytes=N, median of R
  alternating rounds"; RATIO_LINE is printed with {ratio} replaced by A's throughput / B's.
"""
import json
import statistics
import sys


def line(label, runs, mib):
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    rss = max(r["peak_rss_kib"] for r in runs) / 1024
    walls = " ".join(f"{r['wall_s']:.2f}" for r in runs)
    print(f"{label}{wall:.2f} s  {mib / wall:.0f} MiB/s  cpu {cpu:.2f} s  peak RSS {rss:.1f} MiB  "
          f"exit {sorted({r['exit'] for r in runs})}  (walls: {walls})")
    return mib / wall


def main():
    n, header, label_a, runs_a, label_b, runs_b, ratio_line = sys.argv[1:8]
    n = int(n)
    a = [json.loads(l) for l in runs_a.splitlines()]
    b = [json.loads(l) for l in runs_b.splitlines()]
    mib = n / 2**20
    print(f"bytes={n}, median of {len(a)} alternating rounds{header}")
    ratio = line(label_a, a, mib) / line(label_b, b, mib)
    print(ratio_line.replace("{ratio}", f"{ratio:.2f}"))


if __name__ == "__main__":
    main()
