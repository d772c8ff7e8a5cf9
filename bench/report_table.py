"""The bench's human-readable table, from the results it writes as JSON."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from latency import WARM_UP


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}{unit}"
    return f"{int(v):,}{unit}"


Row = Callable[..., None]


def report(res: dict[str, Any]) -> str:
    """The human-readable table."""
    m = res["machine"]
    lines = [
        "",
        (
            f"Kinkyu bench  {res['date']}  {m['nproc']} CPUs  Python {m['python']}  "
            f"N={res['events']:,} events ({res['generator']}, {res['avg_event_bytes']} B avg)"
        ),
        "",
        f"{'measurement':<52}{'result':>16}  notes",
        "-" * 100,
    ]

    def row(name: str, value: str, note: str = "") -> None:
        lines.append(f"{name:<52}{value:>16}  {note}")

    _report_throughput(res, row)
    _report_rest(res, row)
    lines.extend(f"ERROR: {e}" for e in res.get("errors", []))
    lines.append(f"total {res['total_seconds']:.0f} s; JSON: {res.get('results_path')}")
    return "\n".join(lines)


def _report_throughput(res: dict[str, Any], row: Row) -> None:
    c = res.get("ceiling")
    if c:
        row(
            "(a) ceiling: bare getmany, raw bytes (median)",
            _fmt(c["raw"]["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in c["raw"]["rounds"]),
        )
        row(
            "(a) ceiling: getmany + orjson.loads (median)",
            _fmt(c["orjson"]["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in c["orjson"]["rounds"]),
        )
        if "decode_access" in c:
            row("    diag: getmany + decode_access", _fmt(c["decode_access"]["events_per_s"], " ev/s"), "in-process")
            row("    diag: getmany + decode_access + Engine", _fmt(c["engine"]["events_per_s"], " ev/s"), "in-process")
    w = res.get("worker")
    if w:
        row(
            "(b) kinkyu worker, subprocess, /metrics (median)",
            _fmt(w["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in w["rounds"]),
        )
        row(
            "    cpu while processing (median round)",
            f"{_fmt(w['worker_cpu_share'])} / {_fmt(w['broker_cpu_share'])}",
            "cores used by worker / broker",
        )
        row(
            "    time to healthy",
            _fmt(w["time_to_healthy_s"], " s"),
            "rounds: " + ", ".join(f"{v:.1f}" for v in w["time_to_healthy_rounds_s"]),
        )
        row(
            "    incidents opened / planted",
            "/".join(str(v) for v in w["incidents_opened_rounds"]) + f" of {w['incidents_planted']}",
            "per round (the worker's incidents topic)",
        )
    r = res.get("ratios", {})
    if "worker_over_ceiling" in r:
        ok = "met" if r["worker_over_ceiling"] >= 0.5 else "MISSED"
        row("(b)/(a) worker / raw ceiling", f"{r['worker_over_ceiling']:.2f}", f"target >= 0.50: {ok}")
        row("(b)/(a) worker / orjson ceiling", f"{r['worker_over_orjson_ceiling']:.2f}")
        if r.get("per_round"):
            row("    per round (worker_r / raw_r)", ", ".join(f"{v:.2f}" for v in r["per_round"]))


def _report_rest(res: dict[str, Any], row: Row) -> None:
    p = res.get("replay")
    if p:
        row(
            "(c) kinkyu replay CLI, N (wall, incl. start-up)",
            _fmt(p["cli_n"]["events_per_s"], " ev/s"),
            f"{p['cli_n']['seconds']} s, {p['cli_n']['incidents']} incidents / {p['cli_n']['planted']} planted",
        )
        one = p["in_process_one_core"]
        ok = "met" if one["events_per_s"] >= 100_000 else "MISSED"
        row("(c) replay in-process, pinned to one core", _fmt(one["events_per_s"], " ev/s"), f"target >= 100,000: {ok}")
        if "cli_2n" in p:
            row("(c) kinkyu replay CLI, 2N", _fmt(p["cli_2n"]["events_per_s"], " ev/s"))
    lat = res.get("latency")
    if lat and "p50_ms" in lat:
        cond = f"{_fmt(lat['rate_achieved'])} ev/s for {lat['seconds']} s"
        row("(d) latency planted event -> incident, p50", _fmt(lat["p50_ms"], " ms"), cond)
        row("(d) latency p99", _fmt(lat["p99_ms"], " ms"))
        row("(d) latency max", _fmt(lat["max_ms"], " ms"), f"{lat['observed']}/{lat['planted']} incidents seen")
        if "steady_p50_ms" in lat:
            row(
                f"    after the first {WARM_UP:.0f} s: p50 / p99 / max",
                f"{lat['steady_p50_ms']:.0f}/{lat['steady_p99_ms']:.0f}/{lat['steady_max_ms']:.0f} ms",
                f"{lat['steady_count']} incidents",
            )
    if p:
        row("(e) replay peak RSS, N", _fmt(p["cli_n"]["peak_rss_mb"], " MiB"))
        if "cli_2n" in p:
            row(
                "(e) replay peak RSS, 2N",
                _fmt(p["cli_2n"]["peak_rss_mb"], " MiB"),
                f"ratio 2N/N {p['rss_ratio_2n_over_n']:.2f} (bounded: near 1)",
            )
    w = res.get("worker")
    if w:
        row("(e) worker peak RSS (VmHWM) after N", _fmt(w["worker_peak_rss_mb"], " MiB"))
    if res.get("broker_peak_rss_mb") is not None:
        row("    broker (tansu, memory storage) peak RSS", _fmt(res["broker_peak_rss_mb"], " MiB"))
    if res.get("load"):
        row("    topic load (send_batch)", _fmt(res["load"]["events_per_s"], " ev/s"))
