"""What every benchmark shares: the machine's description, result files, percentiles, memory."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import threading
import time
from pathlib import Path

import assistant  # noqa: F401  (offline switches before any library import)
from assistant.settings import PROJECT_DIR

RESULTS = PROJECT_DIR / "bench" / "results"


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "os": platform.platform(), "commit": commit,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def percentiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0]}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _status_mb(pid: int, key: str) -> float | None:
    """One memory line of /proc/PID/status (VmRSS, VmHWM…) in MB; None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def process_peak_rss_mb(pid: int) -> float | None:
    peak = _status_mb(pid, "VmHWM")
    return None if peak is None else round(peak, 1)


class MemorySampler:
    """Another process's resident memory once a second, in a thread: (seconds since start, MB)."""

    def __init__(self, pid: int):
        self.pid, self.memory = pid, []
        self._stop, self._started = threading.Event(), time.time()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = _status_mb(self.pid, "VmRSS")
            if rss:
                self.memory.append((time.time() - self._started, rss))
            time.sleep(1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3)

    def figures(self) -> dict:
        """The highest memory, and its slope in MB per minute over the second half (a leak shows as a
        steady rise), as the result files name them."""
        rss, half = [m for _, m in self.memory], self.memory[len(self.memory) // 2:]
        slope = None
        if len(half) >= 2:
            xs, ys = [x for x, _ in half], [y for _, y in half]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            var = sum((x - mx) ** 2 for x in xs)
            slope = round(60 * sum((x - mx) * (y - my) for x, y in half) / var, 1) if var else 0.0
        return {"rss_mb_max": round(max(rss), 1) if rss else None, "rss_mb_slope_per_min_second_half": slope}


def dir_size_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def write(name: str, payload: dict, table_header: list[str], table_rows: list[list]) -> Path:
    """JSON file per run, and a Markdown table appended to bench/results/results.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    stamp = info["date"].replace(":", "").replace("+0000", "Z")
    out = RESULTS / f"{name}-{stamp}.json"
    out.write_text(json.dumps({"benchmark": name, "machine": info, **payload}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    lines = [f"\n## {name} — {info['date']} — commit {info['commit']}",
             f"Machine : {info['cpu']}, {info['cores']} cœurs, {info['ram_gib']} Gio, Python {info['python']}\n",
             "| " + " | ".join(table_header) + " |", "|" + "---|" * len(table_header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in table_rows]
    with (RESULTS / "results.md").open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    print(f"\nRésultats : {out}")
    return out


def log_errors(text: str) -> list[str]:
    """Each ERROR record of the app's log with its traceback (the lines up to the next record)."""
    records, current = [], None
    for line in text.splitlines():
        if re.match(r"^\d{4}-\d\d-\d\d ", line):
            current = None
            if " ERROR " in line:
                current = [line]
                records.append(current)
        elif current is not None:
            current.append(line)
    return ["\n".join(r) for r in records]
