#!/usr/bin/python3
"""Runs a command and prints its wall time and peak RSS (from wait4's rusage) as JSON.

usage: measure.py [--stdout FILE] -- CMD ARGS...
"""
import json
import os
import sys
import time


def main():
    args = sys.argv[1:]
    out_path = "/dev/null"
    if args[:1] == ["--stdout"]:
        out_path, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.execvp(args[0], args)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_kib": usage.ru_maxrss,
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                      "exit": os.waitstatus_to_exitcode(status)}))


if __name__ == "__main__":
    main()
