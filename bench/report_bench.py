"""Report rendering bench: an incident with 1,000 timeline entries as Markdown, HTML and PDF.

    .venv/bin/python bench/report_bench.py [--entries 1000] [--rounds 3] [--jurisdiction koganei] [--lang ja]
                                           [--out DIR] [--json FILE]

The incident is a closed Koganei misdelivery run through its playbook
(:mod:`kinkyu.reports.sample`), padded with follow-up updates to the number of
timeline entries asked for. Each round times building the model, then each
format from the same model (the PDF includes laying out the HTML it prints);
the table shows the median and every round. The PDF's size and page count
are printed too. ``--out`` keeps the renders; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kinkyu.reports import RendererMissingError
from kinkyu.reports.model import build_report, merged_timeline
from kinkyu.reports.render import render
from kinkyu.reports.sample import Scenario, build_sample


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _pages(pdf: bytes) -> int | None:
    # pdfinfo (poppler-utils, installed by scripts/system-deps.sh) reads compressed object streams too.
    tool = shutil.which("pdfinfo")
    if tool is None:
        return None
    out = subprocess.run([tool, "-"], input=pdf, capture_output=True, check=False)
    match = re.search(rb"^Pages:\s+(\d+)", out.stdout, re.MULTILINE)
    return int(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 done, 3 when PDF cannot be rendered here (run `make install`)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1000, help="timeline entries (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--jurisdiction", default="koganei")
    parser.add_argument("--lang", choices=("ja", "en"), default="ja")
    parser.add_argument("--kind", choices=("first", "progress", "final", "public"), default="final")
    parser.add_argument("--out", type=Path, help="keep the renders in this folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    build_s, s = _timed(lambda: build_sample(Scenario(args.jurisdiction, timeline_entries=args.entries)))
    entries = len(merged_timeline(s.incident, s.run))
    print(f"incident {s.incident.incident_id} ({args.jurisdiction}): {entries:,} timeline entries")
    print(f"  sample built through the playbook in {build_s:.2f} s")

    times: dict[str, list[float]] = {"model": [], "md": [], "html": [], "pdf": []}
    sizes: dict[str, int] = {}
    outputs: dict[str, bytes] = {}
    for _ in range(args.rounds):
        t, model = _timed(lambda: build_report(s.stored(), kind=args.kind, lang=args.lang, now=s.now))
        times["model"].append(t)
        for fmt in ("md", "html", "pdf"):
            try:
                t, data = _timed(lambda fmt=fmt, model=model: render(model, fmt))
            except RendererMissingError as exc:
                print(f"kinkyu: {exc}", file=sys.stderr)
                return 3
            times[fmt].append(t)
            sizes[fmt] = len(data)
            outputs[fmt] = data
    pages = _pages(outputs["pdf"])

    print(f"\n{'step':<8}{'median s':>10}   rounds (s)                 size")
    for name, values in times.items():
        rounds = " ".join(f"{v:.3f}" for v in values)
        size = f"{sizes[name]:,} B" if name in sizes else ""
        print(f"{name:<8}{statistics.median(values):>10.3f}   {rounds:<26} {size}")
    print(f"\nPDF pages: {pages}")

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for fmt, data in outputs.items():
            (args.out / f"{s.incident.incident_id}.{args.kind}.{args.lang}.{fmt}").write_bytes(data)
        print(f"renders kept in {args.out}")
    if args.json is not None:
        figures = {
            "at": datetime.now(UTC).isoformat(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "entries": entries,
            "rounds": args.rounds,
            "median_seconds": {k: statistics.median(v) for k, v in times.items()},
            "seconds": times,
            "bytes": sizes,
            "pdf_pages": pages,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
