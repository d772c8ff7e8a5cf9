"""(c) ``kinkyu replay`` over the same events, as a command and in-process on one core; (e) its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from kinkyu.core.contract import ContractPolicy
from kinkyu.replay import replay

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from runtime import REPO
from throughput import by_rule, rate
from traffic import DataFile


def run_replay_cli(contracts: Path, data: Path, out: Path, err: Path) -> tuple[float, float, int]:
    """``kinkyu replay --json`` as a subprocess: wall seconds, peak RSS (MiB), exit code."""
    argv = [sys.executable, "-m", "kinkyu", "replay", "--contract", str(contracts), "--input", str(data)]
    argv += ["--json", "--no-progress"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def phase_replay(
    contracts: Path, policies: dict[str, ContractPolicy], files: list[DataFile], tmp: Path
) -> dict[str, Any]:
    """(c) and (e): the replay CLI on N (and 2N) events, and in-process on one core."""
    out: dict[str, Any] = {}
    for label, df in zip(("n", "2n"), files, strict=False):
        inc, err = tmp / f"replay-{label}.jsonl", tmp / f"replay-{label}.err"
        seconds, rss, code = run_replay_cli(contracts, df.path, inc, err)
        if code != 0:
            raise RuntimeError(f"kinkyu replay exited {code}: {err.read_text()[-2000:]}")
        found = _read_jsonl(inc)
        incidents = len(found)
        out[f"cli_{label}"] = {
            "events": df.events,
            "seconds": round(seconds, 3),
            "events_per_s": round(rate(df.events, seconds)),
            "peak_rss_mb": round(rss, 1),
            "incidents": incidents,
            "incidents_by_rule": by_rule(found),
            "planted": df.planted,
        }
        print(
            f"   (c) replay CLI {label:<3} {rate(df.events, seconds):>11,.0f} ev/s  ({seconds:.2f} s wall, "
            f"{rss:,.0f} MiB peak, {incidents} incidents, {df.planted} planted)",
            flush=True,
        )
    df = files[0]
    cpu: int | None = None
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        if before:
            cpu = max(before)
            os.sched_setaffinity(0, {cpu})
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = replay(policies, [df.path])
        seconds = time.perf_counter() - started
        cpu_used = time.process_time() - cpu_started
    finally:
        if before:
            os.sched_setaffinity(0, before)
    out["in_process_one_core"] = {
        "cpu": cpu,
        "events": result.stats.events,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_used, 3),
        "events_per_s": round(rate(result.stats.events, seconds)),
        "incidents": len(result.incidents),
    }
    print(
        f"   (c) replay in-process, cpu {cpu}: {rate(result.stats.events, seconds):,.0f} ev/s ({seconds:.2f} s)",
        flush=True,
    )
    if "cli_2n" in out:
        out["rss_ratio_2n_over_n"] = round(out["cli_2n"]["peak_rss_mb"] / out["cli_n"]["peak_rss_mb"], 3)
    return out
