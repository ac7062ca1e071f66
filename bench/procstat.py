"""CPU time and memory of running processes, read from /proc, for bench/harness.py."""

import os
import pathlib


def cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def status_kib(pids, field):
    total = 0
    for pid in pids:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total


def reset_peak_rss(pids):
    for pid in pids:
        pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")
