"""``kinkyu``: the command line.

Exit codes scripts can trust:
0 done; 1 an unexpected failure (a bug: report it); 2 wrong usage;
3 a contract profile or setting is invalid; 4 the broker cannot be reached
or used; 5 ``replay --strict`` met lines that are not valid events;
6 ``evidence verify`` found evidence or its custody log altered;
7 ``produce`` sent every line but some, each named on stderr by file, line
number and size (too large for the broker).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from kinkyu import __version__
from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.exceptions import ContractError, KinkyuError
from kinkyu.private import make_files_private
from kinkyu.resources import PLAYBOOKS_DIR, SAMPLE_EVENTS_DIR

if TYPE_CHECKING:
    from kinkyu.catalogue import Lang

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_BROKER = 4
EXIT_MALFORMED = 5
EXIT_TAMPERED = 6  # returned by kinkyu.evidence.cli
EXIT_PARTIAL = 7  # produce: some lines were refused (named on stderr), every other line was sent


def _err(msg: str) -> None:
    print(f"kinkyu: {msg}", file=sys.stderr)


# -- replay -------------------------------------------------------------------


# As the worker's KINKYU_MAX_CLOCK_SKEW: a source more than a day ahead has no clock worth the name.
MAX_CLOCK_SKEW_LIMIT = 86_400.0


def _clock_skew(text: str) -> float:
    """Seconds a line's time may be ahead of the judging clock: 0 to a day (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, a number such as 300") from None
    if not 0 <= value <= MAX_CLOCK_SKEW_LIMIT:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_CLOCK_SKEW_LIMIT:g} seconds (a day)")
    return value


def _replay_skew(args: argparse.Namespace) -> float | None:
    """``--max-clock-skew``, else ``KINKYU_MAX_CLOCK_SKEW``, else the default; None (said on stderr) when invalid."""
    from kinkyu.core.bounds import DEFAULT_MAX_SKEW  # noqa: PLC0415  # keep --help fast

    if args.max_clock_skew is not None:
        return float(args.max_clock_skew)
    text = os.environ.get("KINKYU_MAX_CLOCK_SKEW")
    if not text:
        return DEFAULT_MAX_SKEW
    try:
        return _clock_skew(text)
    except argparse.ArgumentTypeError as exc:
        _err(f"invalid setting KINKYU_MAX_CLOCK_SKEW: {exc}")
        return None


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the domain over archived JSON-lines files and print the incidents."""
    import time  # noqa: PLC0415

    from kinkyu.replay import Rejected, ReplayStats, incident_line, replay  # noqa: PLC0415  # keep --help fast

    missing = [str(p) for p in args.input if p != "-" and not Path(p).is_file()]
    if missing:
        _err(f"no such input file: {', '.join(missing)}")
        return EXIT_USAGE
    skew = _replay_skew(args)
    if skew is None:
        return EXIT_CONFIG
    # One clock for the whole command: the replay and the evidence pass of --out judge "the future" alike.
    judged_at = time.time()
    profiles = load_profiles(args.contract)
    policies = compile_profiles(profiles)
    dead: IO[bytes] | None = args.dead_letters.open("wb") if args.dead_letters else None
    show_progress = args.progress or (args.progress is None and sys.stderr.isatty())

    def rejected(r: Rejected) -> None:
        if args.verbose:
            _err(f"{r.source}:{r.line}: {r.error.reason}: {r.error.detail}")
        if dead is not None:
            import orjson  # noqa: PLC0415

            meta = {"source": r.source, "line": r.line, "reason": r.error.reason, "detail": r.error.detail}
            dead.write(orjson.dumps({"dead_letter": meta, "raw": r.raw.decode("utf-8", "replace")}) + b"\n")

    def progress(stats: ReplayStats) -> None:
        print(
            f"\rkinkyu replay: {stats.events:,} events, {stats.findings:,} findings, "
            f"{stats.malformed:,} rejected, {stats.rate:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        result = replay(
            policies,
            args.input,
            lateness=args.lateness,
            rejected=rejected,
            progress=progress if show_progress else None,
            now=judged_at,
            max_skew=skew,
        )
    finally:
        if dead is not None:
            dead.close()
    if show_progress:
        print(file=sys.stderr)
    out = sys.stdout.buffer
    for incident in result.incidents.values():
        if args.json:
            out.write(incident_line(incident) + b"\n")
        else:
            rules = ",".join(incident.rules) or incident.kind
            out.write(
                f"{incident.incident_id}  {incident.contract_id}  {incident.severity.value:<8}  {rules}  "
                f"actor={incident.actor or '-'}  findings={incident.finding_count}  "
                f"first={incident.first_event_ts.isoformat()}\n".encode()
            )
    out.flush()
    s = result.stats
    summary = f"{s.events:,} events, {s.findings:,} findings, {len(result.incidents):,} incidents"
    if args.out is not None:
        summary += "; " + _store_replay(args, result.incidents.values(), profiles, now=judged_at, max_skew=skew)
    if s.malformed:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items()))
        summary += f"; {s.malformed:,} lines rejected ({reasons}); rerun with --verbose or --dead-letters FILE"
    if s.late:
        summary += f"; {s.late:,} arrived later than --lateness"
    _err(summary)
    return EXIT_MALFORMED if (args.strict and s.malformed) else EXIT_OK


def _store_replay(args: argparse.Namespace, incidents: Any, profiles: Any, *, now: float, max_skew: float) -> str:
    """Write ``--out DIR`` (``now``, ``max_skew``: the replay's judging clock); the summary clause for stderr."""
    from kinkyu.core.evidence import key_from_config  # noqa: PLC0415
    from kinkyu.evidence.settings import IntegritySettings, integrity_keyring  # noqa: PLC0415
    from kinkyu.playbook_files import load_playbooks  # noqa: PLC0415
    from kinkyu.replay_store import write_store  # noqa: PLC0415

    secret = os.environ.get("KINKYU_EVIDENCE_KEY")
    key = key_from_config(secret) if secret else None
    integrity = IntegritySettings.load()
    keyring = integrity_keyring(integrity.integrity_keys, integrity.integrity_key_id, separate_from=[key])
    stored = write_store(
        args.out,
        incidents,
        profiles,
        load_playbooks(args.playbooks),
        inputs=args.input,
        evidence_key=key,
        integrity=keyring,
        now=now,
        max_skew=max_skew,
    )
    text = f"{stored.incidents:,} incidents stored in {args.out}"
    if key is None:
        text += " (no evidence: set KINKYU_EVIDENCE_KEY to seal it)"
    elif keyring is None:
        text += " (evidence unkeyed: set KINKYU_INTEGRITY_KEYS to MAC its custody log)"
    else:
        text += f" with {stored.bundles:,} evidence bundles ({stored.sealed_events:,} events)"
        if stored.unread:
            text += "; no evidence from stdin (it can be read only once: replay from a file to seal it)"
    return text


# -- simulate -----------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write realistic benign traffic with planted breaches as JSON lines."""
    from datetime import datetime  # noqa: PLC0415

    import orjson  # noqa: PLC0415

    from kinkyu.sim import generate, to_jsonl_bytes  # noqa: PLC0415

    profiles = load_profiles(args.contract)
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        _err("--start needs a UTC offset, e.g. 2026-11-02T08:00:00+09:00")
        return EXIT_USAGE
    events, planted = generate(profiles, events=args.events, seed=args.seed, start=start, plant=not args.no_plant)
    out = args.out.open("wb") if args.out else sys.stdout.buffer
    written = 0
    try:
        for ev in events:
            out.write(to_jsonl_bytes(ev))
            written += 1
    finally:
        if args.out:
            out.close()
    if args.planted:
        with args.planted.open("wb") as fh:
            for p in planted:
                fh.write(orjson.dumps(p, default=_dataclass_json) + b"\n")
    _err(f"{written:,} events written; {len(planted)} planted breaches")
    return EXIT_OK


def _dataclass_json(obj: Any) -> Any:
    import dataclasses  # noqa: PLC0415

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError


# -- contracts ----------------------------------------------------------------


def cmd_contracts(args: argparse.Namespace) -> int:
    """Validate contract profiles and list them: for people (dates as documents write them), or ``--json``."""
    from kinkyu.core.timefmt import doc_date  # noqa: PLC0415  # keeps `kinkyu --help` fast
    from kinkyu.reports.labels import WORDS  # noqa: PLC0415

    profiles = load_profiles(args.paths)
    if args.json:
        import orjson  # noqa: PLC0415

        # A machine's listing: ISO 8601 calendar dates (a contract's term is days, without a time or offset).
        for p in profiles.values():
            row = {
                "contract_id": p.contract_id,
                "jurisdiction": p.jurisdiction,
                "city": p.city.name,
                "starts": p.starts.isoformat(),
                "ends": p.ends.isoformat(),
                "title": p.title,
            }
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        sys.stdout.flush()
        return EXIT_OK
    # The terminal's language as `kinkyu run` chooses it (kinkyu.streams.runner.terminal_lang).
    lang: Lang = "en" if (args.lang or os.environ.get("LANG", "")).lower().startswith("en") else "ja"
    for p in profiles.values():
        term = WORDS.say(
            lang,
            "contracts.term",
            start=doc_date(p.starts, lang, weekday=False),
            end=doc_date(p.ends, lang, weekday=False),
        )
        print(f"{p.contract_id}\t{p.jurisdiction}\t{p.city.name}\t{term}\t{p.title}")
    return EXIT_OK


# -- worker / run / produce -----------------------------------------------------


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from kinkyu.streams.settings import WorkerSettings  # noqa: PLC0415  # faust is slow to import

    values = {k: v for k, v in overrides.items() if v is not None}
    for name in ("broker", "group", "web_port", "partitions", "topic_prefix"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if getattr(args, "contracts", None):
        values["contracts"] = args.contracts
    return WorkerSettings(**values)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker against a real broker."""
    from kinkyu.streams.runner import run_worker  # noqa: PLC0415

    return run_worker(_settings(args))


def cmd_run(args: argparse.Namespace) -> int:
    """Embedded broker, worker, bundled sample, incidents printed as they open."""
    from kinkyu.streams.runner import TEXTS, run_demo, terminal_lang  # noqa: PLC0415

    lang = terminal_lang(args.lang)
    wanted = ("access-log.jsonl", "incident-events.jsonl")
    if not any((args.samples / name).is_file() for name in wanted):
        # Without this the demo would start and wait for incidents that never come.
        _err(TEXTS.say(lang, "no_samples", folder=args.samples, files=" / ".join(wanted)))
        return EXIT_CONFIG
    return run_demo(_settings(args, broker=os.environ.get("KINKYU_BROKER")), samples=args.samples, lang=lang)


def cmd_produce(args: argparse.Namespace) -> int:
    """Send JSON-lines files to a topic, one message per line; name the lines the broker refuses."""
    from kinkyu.streams.produce import produce_files  # noqa: PLC0415  # aiokafka is slow to import

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        _err(f"no such input file: {', '.join(missing)}")
        return EXIT_USAGE
    settings = _settings(args)
    # The same prefix the worker puts in front of every topic (--topic-prefix or KINKYU_TOPIC_PREFIX).
    topic = settings.topic_prefix + args.topic
    result = asyncio.run(produce_files(settings.broker_connection(), topic, args.files))
    for r in result.refused:
        _err(f"{r.path}:{r.line}: not sent: {r.reason} ({r.size:,} bytes)")
    summary = f"{result.sent:,} messages sent to {topic}"
    if result.refused:
        _err(f"{summary}; {len(result.refused):,} line(s) not sent (exit {EXIT_PARTIAL})")
        return EXIT_PARTIAL
    _err(summary)
    return EXIT_OK


# -- parser -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kinkyu",
        description="Kinkyu (緊急): detect contract breaches in access logs and drive the city's "
        "emergency clauses. Exit codes: 0 ok, 1 failure, 2 usage, 3 bad contract/setting, "
        "4 broker unreachable, 5 rejected lines with replay --strict, 6 evidence altered, "
        "7 produce could not send some lines (named on stderr). "
        "`kinkyu console` serves the incident desk.",
    )
    parser.add_argument("--version", action="version", version=f"kinkyu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def broker_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--broker", help="Kafka bootstrap host:port (default: $KINKYU_BROKER or 127.0.0.1:9092)")
        p.add_argument("--group", help="consumer group / app id (default: kinkyu)")
        p.add_argument("--topic-prefix", help="prefix for every topic name (default: none)")

    def contract_opts(p: argparse.ArgumentParser, *, required: bool) -> None:
        p.add_argument(
            "--contract",
            "--contracts",
            dest="contracts" if not required else "contract",
            action="append",
            type=Path,
            required=required,
            metavar="PATH",
            help="contract profile file or folder of *.yaml (repeatable)",
        )

    _add_live_commands(sub, broker_opts, contract_opts)
    _add_offline_commands(sub, broker_opts, contract_opts)
    return parser


OptAdder = Callable[..., None]


def _add_live_commands(sub: Any, broker_opts: OptAdder, contract_opts: OptAdder) -> None:
    p = sub.add_parser("worker", help="run a worker against KINKYU_BROKER (production)")
    broker_opts(p)
    contract_opts(p, required=False)
    p.add_argument("--web-port", type=int, help="health and metrics port (default: 6066)")
    p.add_argument("--partitions", type=int, help="partitions for input topics the worker creates")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "run", help="embedded broker + worker + bundled sample; prints incidents as they open (Ctrl-C stops)"
    )
    broker_opts(p)
    contract_opts(p, required=False)
    p.add_argument("--web-port", type=int, help="health and metrics port (default: 6066)")
    p.add_argument(
        "--samples", type=Path, default=SAMPLE_EVENTS_DIR, help="folder of sample events to send (default: bundled)"
    )
    p.add_argument(
        "--lang", choices=("ja", "en"), help="the terminal's language (default: ja; en when LANG is English)"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "produce",
        help="send JSON-lines files to a topic",
        description="Send JSON-lines files to a topic, one message a line, keyed by contract_id. A line the "
        "broker refuses (too large) is named on stderr by file, line number and size, the rest is sent, "
        f"and the exit code is {EXIT_PARTIAL}.",
    )
    broker_opts(p)
    p.add_argument(
        "--topic",
        required=True,
        help="e.g. access-log or incident-events; the topic prefix (--topic-prefix, KINKYU_TOPIC_PREFIX) goes in front",
    )
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_produce)


def _add_offline_commands(sub: Any, broker_opts: OptAdder, contract_opts: OptAdder) -> None:
    del broker_opts
    from kinkyu.console.cli import add_console_parser  # noqa: PLC0415  # likewise
    from kinkyu.evidence.cli import add_evidence_parser  # noqa: PLC0415  # keeps the module graph one-way
    from kinkyu.reports.cli import add_report_parser  # noqa: PLC0415  # likewise

    add_evidence_parser(sub)
    add_report_parser(sub)
    add_console_parser(sub)
    p = sub.add_parser("replay", help="run detection over archived JSON-lines logs, without a broker")
    contract_opts(p, required=True)
    p.add_argument(
        "--input", action="append", required=True, metavar="EVENTS.jsonl", help="input file, - for stdin (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per incident on stdout")
    p.add_argument("--lateness", type=float, default=300.0, help="seconds events may be out of order (default 300)")
    p.add_argument(
        "--max-clock-skew",
        type=_clock_skew,
        metavar="SECONDS",
        help="seconds a line's time may be ahead of this replay's clock (read once, as it starts); a later line "
        "is rejected as future-timestamp, as a live worker dead-letters it (default: $KINKYU_MAX_CLOCK_SKEW or "
        f"300; at most {MAX_CLOCK_SKEW_LIMIT:g})",
    )
    p.add_argument("--dead-letters", type=Path, metavar="FILE", help="write rejected lines here with their reason")
    p.add_argument("--strict", action="store_true", help="exit 5 if any line was rejected")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="keep incidents, playbook runs and (with KINKYU_EVIDENCE_KEY) sealed evidence here, "
        "for `kinkyu report --store DIR`",
    )
    p.add_argument("--playbooks", type=Path, default=PLAYBOOKS_DIR, help="playbooks folder (with --out)")
    p.add_argument("--verbose", action="store_true", help="report each rejected line (number and reason) on stderr")
    prog = p.add_mutually_exclusive_group()
    prog.add_argument("--progress", action="store_true", default=None, help="progress on stderr (default: if a tty)")
    prog.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("simulate", help="generate benign traffic with planted breaches (JSON lines)")
    contract_opts(p, required=True)
    p.add_argument("--events", type=int, default=100_000, help="how many events (default 100000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="2026-11-02T08:00:00+09:00", help="first event time (RFC 3339)")
    p.add_argument("--no-plant", action="store_true", help="benign traffic only")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    p.add_argument("--planted", type=Path, metavar="FILE", help="write the planted breaches here (JSON lines)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("contracts", help="validate contract profiles and list them")
    p.add_argument("paths", nargs="+", type=Path, help="profile files or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per contract (ISO 8601 dates)")
    p.add_argument("--lang", choices=("ja", "en"), help="the listing's language (default: ja; en when LANG is English)")
    p.set_defaults(func=cmd_contracts)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kinkyu`` command."""
    make_files_private()  # umask 077: nothing Kinkyu writes is readable by other accounts
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ContractError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    except ValidationError as exc:
        _err(f"invalid setting:\n{exc}")
        return EXIT_CONFIG
    except KinkyuError as exc:
        from kinkyu.streams.exceptions import BrokerError, BrokerSettingsError  # noqa: PLC0415

        _err(str(exc))
        if isinstance(exc, BrokerSettingsError):
            return EXIT_CONFIG
        return EXIT_BROKER if isinstance(exc, BrokerError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kinkyu replay … | head` closed the pipe: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
