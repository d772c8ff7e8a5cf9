"""Running a worker: production (``kinkyu worker``) and the embedded demo (``kinkyu run``)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import faust
import orjson
from pydantic import SecretStr

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.contracts import compile_profiles
from kinkyu.core.calendar import is_working_day
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.contract import ContractPolicy
from kinkyu.core.freetext import REPLACEMENT, neutralise
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.jurisdictions import unit_of
from kinkyu.core.labels import SEVERITY_LABELS, kind_label, rule_label
from kinkyu.core.model import JST
from kinkyu.core.playbook import PlaybookError
from kinkyu.core.timefmt import doc_datetime, jst_date
from kinkyu.evidence.demo_keys import demo_keys
from kinkyu.evidence.exceptions import EvidenceKeyError
from kinkyu.logs import setup_logging
from kinkyu.messages import P_, Lang, Texts, unit_word
from kinkyu.messages.codes import code_label
from kinkyu.messages.timeline import Names, describe
from kinkyu.notifiers.exceptions import NotifierError
from kinkyu.notifiers.render import TEXTS as MAIL_TEXTS
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings
from kinkyu.streams.app import Worker
from kinkyu.streams.broker import EmbeddedBroker, free_port, stop_process, wait_healthy
from kinkyu.streams.exceptions import BrokerSettingsError
from kinkyu.streams.settings import WorkerSettings
from kinkyu.streams.store_identity import StoreMismatchError

log = logging.getLogger("kinkyu.runner")

EXIT_CONFIG = 3  # as kinkyu.cli: an invalid setting
SINK_PORT = 1025  # the SMTP sink's usual port (Mailpit's too), when it is free
HEARTBEAT_EVERY = timedelta(minutes=1)  # the demo's systems' heartbeats, well inside the samples' 5 m gap

# What ``kinkyu run`` prints on the terminal: English here (the message id), Japanese in the catalogue under
# ``run.<key>`` (python scripts/catalogue.py). Japanese first; ``kinkyu run --lang en`` (or LANG=en…) for English.
TEXTS = Texts(
    "run.",
    {
        "banner.embedded": P_("run.banner.embedded", "Kinkyu: embedded broker at {broker}"),
        "banner.broker": P_("run.banner.broker", "Kinkyu: broker at {broker}"),
        "banner.contracts": P_("run.banner.contracts", "contracts: {ids}"),
        "banner.evidence": P_("run.banner.evidence", "evidence:  {path} ({how})"),
        "banner.health": P_("run.banner.health", "health:    {url}"),
        "banner.metrics": P_("run.banner.metrics", "metrics:   {url}"),
        "banner.acks": P_("run.banner.acks", "acks:      {url}/ack/… (the link in each e-mail; outbox {outbox})"),
        "banner.logs": P_("run.banner.logs", "logs:      {path}"),
        "banner.stop": P_("run.banner.stop", "Ctrl-C stops everything."),
        "keys.env": P_("run.keys.env", "sealed with KINKYU_EVIDENCE_KEY, MAC'd with KINKYU_INTEGRITY_KEYS"),
        "keys.demo": P_(
            "run.keys.demo",
            "demo keys in {path} (0600, reused each run; never for production); after the run: {verify}",
        ),
        "mail.relay": P_("run.mail.relay", "mail goes to {host}:{port} (KINKYU_SMTP_HOST; security {security})"),
        "mail.queued": P_("run.mail.queued", "mail stays queued: the SMTP sink did not start (see {log})"),
        "mail.sink": P_("run.mail.sink", "mail lands in {folder}/ (SMTP sink on 127.0.0.1:{port}; its log {log})"),
        "desk.down": P_("run.desk.down", "console:   not running: {why}"),
        "desk.up": P_("run.desk.up", "console:   {url}/  (log {log}); demo logins, new each run:"),
        "desk.failed": P_("run.desk.failed", "the console {problem} (see {log})"),
        "sent": P_("run.sent", "sent {n} sample events to {topic} (dated {days} days)"),
        "stopped": P_("run.stopped", "Kinkyu stopped."),
        "no_samples": P_(
            "run.no_samples", "no sample events in {folder} ({files}): give --samples a folder holding them"
        ),
        "feed_failed": P_("run.feed_failed", "could not send the sample: {error}"),
        "incident": P_(
            "run.incident",
            "{id}  {contract} ({city})  severity {severity}  {what}  account {actor}  records {records}  "
            "first event {first}",
        ),
        "filed": P_("run.filed", "filed: {kind}"),
        "report": P_(
            "run.report", "{id}  {what} to the {audience} falls due {due} ({urgency}, {article}); notification queued"
        ),
        "message": P_("run.message", "{id}  {what}{task} to the {audience} queued; due {due}"),
        "task": P_("run.task", " (task {task})"),
        "escalated": P_("run.escalated", "{id}  {reason}: {subject} (due {due}); escalated to level {level}"),
        "subject.task": P_("run.subject.task", "task {task}"),
        "subject.step": P_("run.subject.step", "step {step}"),
        "containment": P_(
            "run.containment", "{id}  containment {how}: {action} on {target_type} {target} ({command}, rule {rule})"
        ),
        "containment.auto": P_("run.containment.auto", "executed automatically"),
        "containment.proposed": P_("run.containment.proposed", "proposed for approval"),
        "sealed": P_("run.sealed", "{id}  evidence sealed: {bundle} ({items} events, {phase})"),
    },
)


def _t(lang: str, key: str, **values: object) -> str:
    return TEXTS.say(lang, key, "市", **values)  # no local body in these lines: the unit is never filled in


def terminal_lang(wanted: str | None = None) -> Lang:
    """The terminal's language: ``wanted`` (``--lang``), else English when LANG says so, else Japanese."""
    if wanted in {"ja", "en"}:
        return "en" if wanted == "en" else "ja"
    return "en" if os.environ.get("LANG", "").lower().startswith("en") else "ja"


def _execute(worker: Worker) -> int:
    """Run the faust worker until a signal or a crash; its exit code."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Topics exist before faust declares its own, and our group join overlaps faust's.
    try:
        loop.run_until_complete(worker.prepare())
    except StoreMismatchError as exc:
        # Not the deployment's shared store: starting would split the record. The message says what to do.
        log.error("worker not started: %s", exc)  # noqa: TRY400  # the message is the whole story
        loop.run_until_complete(worker.sink.stop())
        return EXIT_CONFIG
    fw = faust.Worker(
        worker.app,
        loop=loop,
        loglevel=worker.settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    try:
        fw.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)


def run_worker(settings: WorkerSettings) -> int:
    """``kinkyu worker``: JSON logs on stderr, health and metrics on the web port."""
    setup_logging(settings.log_format, settings.log_level)
    log.info(
        "worker starting",
        extra={"broker": settings.broker, "group": settings.group, "web_port": settings.web_port},
    )
    try:
        worker = Worker(settings)
    except (PlaybookError, EvidenceKeyError, NotifierError, BrokerSettingsError) as exc:
        # Settings the worker cannot run with: exit 3, like an invalid contract profile.
        # The messages name files, keys, key ids and folders, never a value.
        log.error("worker not started: %s", exc)  # noqa: TRY400  # the message is the whole story
        return EXIT_CONFIG
    return _execute(worker)


def _key_of(line: bytes) -> bytes | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    cid = obj.get("contract_id") if isinstance(obj, dict) else None
    return cid.encode() if isinstance(cid, str) else None


async def produce_lines(bootstrap: BrokerConnection | str, topic: str, lines: Iterable[bytes]) -> int:
    """Send each non-blank line as one message keyed by its contract_id (the co-partitioning key)."""
    connection = as_connection(bootstrap)
    producer = connection.producer(acks=1, linger_ms=5, max_batch_size=256 * 1024)
    await connection.start(producer, "a producer")  # BrokerError says what to check
    n = 0
    try:
        for line in lines:
            line = line.strip()  # noqa: PLW2901  # the newline is framing, not content
            if not line:
                continue
            await producer.send(topic, line, key=_key_of(line))
            n += 1
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def produce_files(bootstrap: BrokerConnection | str, topic: str, files: Iterable[Path]) -> int:
    """Send JSON-lines files to ``topic``."""
    total = 0
    for f in files:
        with f.open("rb") as fh:
            total += await produce_lines(bootstrap, topic, fh)
    return total


def _term(value: object, limit: int = 80) -> str:
    """``value`` as one safe terminal field: no control, bidi or line-break character, at most ``limit`` chars.

    Account, system and target ids come from access logs an attacker may write; an ESC sequence
    printed as is would drive the operator's terminal (title, colours, hidden text).
    """
    text = neutralise(value if isinstance(value, str) else str(value)).replace("\n", REPLACEMENT).replace("\t", " ")
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _say(line: str) -> None:
    print(_term(line, limit=400), flush=True)


def _print_incident(record: dict[str, Any], seen: set[str], lang: Lang = "ja") -> None:
    incident_id = record.get("incident_id")
    if record.get("change") != "opened" or not isinstance(incident_id, str) or incident_id in seen:
        return  # not an opening, or redelivered after a restart: same id, already shown
    seen.add(incident_id)
    jurisdiction = record.get("jurisdiction")
    city = CITY_NAMES.get(jurisdiction, jurisdiction) if isinstance(jurisdiction, str) else "-"
    rules = record.get("rules")
    if isinstance(rules, list) and rules:
        what = ("、" if lang == "ja" else ", ").join(_pick(rule_label(_term(r)), lang) for r in rules)
    else:
        what = _t(lang, "filed", kind=_pick(kind_label(_term(record.get("kind"))), lang))
    severity = record.get("severity")
    shown = _pick(SEVERITY_LABELS.get(severity, (severity, severity)), lang) if isinstance(severity, str) else "-"
    _say(
        "🚨 "
        + _t(
            lang,
            "incident",
            id=_term(incident_id),
            contract=_term(record.get("contract_id")),
            city=_term(city),
            severity=_term(shown),
            what=what,
            actor=_term(record.get("actor") or "-"),
            records=_term(record.get("records")),
            first=_when(record.get("first_event_ts"), lang),
        )
    )


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    # A (Japanese, English) pair of names the core keeps (rules, kinds, severities).
    return pair[0] if lang == "ja" else pair[1]


def _when(value: Any, lang: Lang = "ja") -> str:
    if not isinstance(value, str):
        return "-"
    try:
        return doc_datetime(datetime.fromisoformat(value), lang, weekday=False)
    except ValueError:
        return "-"


def _print_playbook(event: dict[str, Any], seen: set[str], lang: Lang = "ja") -> None:
    """One line per playbook action: ids, kinds, counts and due times only (no personal information).

    The console line is a courtesy: an event it cannot read is left out of it, never raised into the
    playbook stage (which has written the effect already).
    """
    try:
        _print_effect(event, seen, lang)
    except (KeyError, TypeError, ValueError, AttributeError):
        log.debug("playbook event not shown on the console", extra={"effect": str(event.get("effect"))[:40]})


def _audience(event: dict[str, Any], lang: Lang) -> str:
    # The city side by its name in Japanese (品川区), as what it is in English ("the ward"); else the contractor.
    if event.get("audience") == "city":
        jurisdiction = str(event.get("jurisdiction") or "")
        name = CITY_NAMES.get(jurisdiction)
        if lang == "ja" and name:
            return name
        return unit_word(unit_of(jurisdiction, name), lang)
    return code_label(lang, "owner", str(event.get("audience")))


def _print_effect(event: dict[str, Any], seen: set[str], lang: Lang = "ja") -> None:
    kind = event.get("effect")
    key = f"{kind}:{event.get('effect_id')}:{event.get('bundle_id', '')}"
    if key in seen:
        return  # redelivered after a restart: same effect id, already shown
    seen.add(key)
    incident = event.get("incident_id")
    if kind == "notify":
        what = MAIL_TEXTS.say(lang, f"title.{event['kind']}")
        if event["kind"] in {"first_report", "written_report", "complaint_report"}:
            line = "📣 " + _t(
                lang,
                "report",
                id=incident,
                what=what,
                audience=_audience(event, lang),
                due=_when(event["due"], lang),
                urgency=event.get("urgency") or "-",
                article=event.get("article") or "-",
            )
        else:
            task = _t(lang, "task", task=event["task_id"]) if event.get("task_id") else ""
            line = "✉️  " + _t(
                lang,
                "message",
                id=incident,
                what=what,
                task=task,
                audience=_audience(event, lang),
                due=_when(event["due"], lang),
            )
    elif kind == "escalate":
        subject = (
            _t(lang, "subject.task", task=event["task_id"])
            if event.get("task_id")
            else _t(lang, "subject.step", step=code_label(lang, "step", str(event.get("step_id"))))
        )
        shown = code_label(lang, "reason", str(event["reason"]))
        line = "⏰ " + _t(
            lang,
            "escalated",
            id=incident,
            reason=shown,
            subject=subject,
            due=_when(event.get("due"), lang),
            level=event["level"],
        )
    elif kind == "containment":
        line = "🛑 " + _t(
            lang,
            "containment",
            id=incident,
            how=_t(lang, "containment.auto" if event.get("auto") else "containment.proposed"),
            action=code_label(lang, "action", str(event["action"])),
            target_type=code_label(lang, "target", str(event["target_type"])),
            target=event["target"],
            command=event["command_id"],
            rule=_pick(rule_label(str(event["reason"])), lang),
        )
    elif kind == "evidence_sealed":
        line = "🔒 " + _t(
            lang,
            "sealed",
            id=incident,
            bundle=event["bundle_id"],
            items=event["items"],
            phase=code_label(lang, "phase", str(event["phase"])),
        )
    else:
        return
    _say(line)


_SHOWN_RESULTS = frozenset(
    {
        "message_sent",
        "message_delayed",
        "message_failed",
        "message_escalated",
        "city_unanswered",
        "message_acknowledged",
    }
)


def _print_delivery(incident_id: str, entry: TimelineEntry, seen: set[str], lang: Lang = "ja") -> None:
    """One line per delivery result: the timeline's text (roles and contact references, never an address)."""
    key = str(entry.data.get("event_id")) if isinstance(entry.data, dict) else entry.what
    if entry.kind not in _SHOWN_RESULTS or key in seen:
        return
    seen.add(key)
    icon = {"message_sent": "📧", "message_acknowledged": "✅"}.get(entry.kind, "⏳")
    # The timeline's sentence in the terminal's language, from the entry's kind and data (never its English line).
    _say(f"{icon} {incident_id}  {describe(entry.kind, entry.data, entry.what, Names(lang=lang))}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_mail_sink(folder: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """``python -m notifiers.smtp_sink`` on 127.0.0.1 (port 1025 if free), writing to ``folder``; None if it fails."""
    port = SINK_PORT if _port_free(SINK_PORT) else free_port()
    with log_path.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603  # our own module, with the interpreter running us
            [sys.executable, "-m", "kinkyu.notifiers.smtp_sink", "--port", str(port), "--dir", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    stop_process(proc)
    return None


def _demo_mail(settings: WorkerSettings, lang: Lang = "ja") -> tuple[SmtpSettings, subprocess.Popen[bytes] | None, str]:
    """The demo's SMTP settings, the sink it started (unless KINKYU_SMTP_HOST is set), and where mail goes."""
    smtp = SmtpSettings()
    if "KINKYU_SMTP_HOST" in os.environ:
        return smtp, None, _t(lang, "mail.relay", host=smtp.host, port=smtp.port, security=smtp.security)
    mail_dir = settings.data_dir / "mail"
    sink_log = settings.data_dir / "smtp-sink.log"
    started = _start_mail_sink(mail_dir, sink_log)
    if started is None:
        return smtp, None, _t(lang, "mail.queued", log=sink_log)
    proc, port = started
    smtp = smtp.model_copy(update={"host": "127.0.0.1", "port": port, "security": "none"})
    return smtp, proc, _t(lang, "mail.sink", folder=mail_dir, port=port, log=sink_log)


def _demo_notify(settings: WorkerSettings, *, embedded: bool) -> NotifierSettings:
    """The demo's notifier settings: the endpoint on a free port if 6067 is taken; a fresh outbox per broker."""
    notify = NotifierSettings()
    update: dict[str, Any] = {}
    if "KINKYU_NOTIFY_ACK_PORT" not in os.environ and not _port_free(notify.ack_port):
        update["ack_port"] = free_port()
    if embedded and "KINKYU_NOTIFY_OUTBOX_DIR" not in os.environ:
        # The embedded broker starts empty, so incident ids start again at -0001: an outbox kept from an
        # earlier run would take this run's messages for ones it already sent.
        outbox = settings.data_dir / "notifier-demo"
        shutil.rmtree(outbox, ignore_errors=True)
        update["outbox_dir"] = outbox
    return notify.model_copy(update=update) if update else notify


def _demo_keys(settings: WorkerSettings, lang: Lang = "ja") -> tuple[WorkerSettings, str]:
    """``kinkyu run``: the evidence and integrity keys the environment sets, else the demo's own.

    The demo's are kept in ``<data_dir>/demo-keys.env`` (0600) and reused, so the evidence can be verified
    after the run; production (``kinkyu worker``) never reads that file. Returns the settings and how they seal.
    """
    if settings.evidence_key is not None and settings.integrity_keys:
        return settings, _t(lang, "keys.env")
    keys, path = demo_keys(settings.data_dir)
    update: dict[str, Any] = {}
    if settings.evidence_key is None:
        update["evidence_key"] = SecretStr(keys.evidence_key)
    if not settings.integrity_keys:
        update["integrity_keys"] = {keys.key_id: SecretStr(keys.integrity_key)}
        update["integrity_key_id"] = keys.key_id
    verify = f"set -a; . {path}; set +a; kinkyu evidence verify INCIDENT --store {settings.evidence_path} --no-anchor"
    how = _t(lang, "keys.demo", path=path, verify=verify)
    return settings.model_copy(update=update), how


CONSOLE_PORT = 8080  # the console's usual port, when it is free


def _demo_console_port() -> int:
    """KINKYU_CONSOLE_PORT when set (0: a free one, chosen here so the links can name it); else 8080 if free."""
    wanted = os.environ.get("KINKYU_CONSOLE_PORT", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    if wanted:  # 0, or not a number: the console would refuse it; the demo picks a port instead
        return free_port()
    return CONSOLE_PORT if _port_free(CONSOLE_PORT) else free_port()


def _demo_ack_secret(notify: NotifierSettings) -> NotifierSettings:
    """The worker signs acknowledgement links and the console checks them: one secret for both (random if unset)."""
    if notify.ack_secret is not None:
        return notify
    return notify.model_copy(update={"ack_secret": SecretStr(secrets.token_urlsafe(32))})


def _demo_links(notify: NotifierSettings, console_url: str) -> NotifierSettings:
    """E-mail links point at the console (its /ack/… and /incidents/…), unless the environment says otherwise."""
    update: dict[str, Any] = {}
    if "KINKYU_NOTIFY_ACK_BASE_URL" not in os.environ:
        update["ack_base_url"] = console_url
    if "KINKYU_NOTIFY_CONSOLE_URL" not in os.environ:
        update["console_url"] = console_url
    return notify.model_copy(update=update) if update else notify


def _demo_logins(users: Path) -> list[tuple[str, str, str]] | str:
    """``kinkyu console demo-users``: the demo users file written, (role, username, password) of each, or why not.

    The console's own command writes it (the worker's package knows nothing of console users); the passwords
    come back over a pipe and are printed once, by the caller.
    """
    try:
        done = subprocess.run(  # noqa: S603  # our own command, with the interpreter running us
            [sys.executable, "-m", "kinkyu", "console", "demo-users", "--users", str(users)],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the demo users could not be written ({type(exc).__name__})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return said[-1].removeprefix("kinkyu: ") if said else f"kinkyu console demo-users exited {done.returncode}"
    try:
        rows = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return [(str(r["role"]), str(r["username"]), str(r["password"])) for r in rows]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "kinkyu console demo-users printed no logins"


def _start_console(
    settings: WorkerSettings, notify: NotifierSettings, port: int, log_path: Path, lang: Lang = "ja"
) -> tuple[subprocess.Popen[bytes], str, list[tuple[str, str, str]]] | str:
    """``kinkyu console`` beside the worker, with demo users; (process, address, logins) or why it did not start.

    The console is its own process (as in production): it reads the store the worker writes and produces to the
    same broker. Its users file gets fresh random passwords every run; they are printed once, here.
    """
    users = settings.data_dir / "console" / "users.yaml"
    logins = _demo_logins(users)
    if isinstance(logins, str):
        return logins
    env = dict(os.environ)
    env.update(
        {
            "KINKYU_BROKER": settings.broker,
            "KINKYU_TOPIC_PREFIX": settings.topic_prefix,
            "KINKYU_DATA_DIR": str(settings.data_dir),
            "KINKYU_CONTRACTS": orjson.dumps([str(p) for p in settings.contracts]).decode(),
            "KINKYU_PLAYBOOKS": str(settings.playbooks),
            "KINKYU_CONSOLE_PORT": str(port),
            "KINKYU_CONSOLE_USERS": str(users),
            "KINKYU_CONSOLE_STORE": str(settings.store_dir),
            "KINKYU_LOG_FORMAT": settings.log_format,
        }
    )
    env.setdefault("KINKYU_CONSOLE_HOST", "127.0.0.1")
    if settings.evidence_key is not None:
        env["KINKYU_EVIDENCE_KEY"] = settings.evidence_key.get_secret_value()
    if settings.integrity_keys:  # the console MACs its audit log with the same keys
        env["KINKYU_INTEGRITY_KEYS"] = orjson.dumps(
            {k: v.get_secret_value() for k, v in settings.integrity_keys.items()}
        ).decode()
        env["KINKYU_INTEGRITY_KEY_ID"] = settings.integrity_key_id or ""
    if notify.ack_secret is not None:
        env["KINKYU_NOTIFY_ACK_SECRET"] = notify.ack_secret.get_secret_value()
    # The console hands opened links to the worker's acknowledgement endpoint, which records them.
    env["KINKYU_NOTIFY_ACK_HOST"] = notify.ack_host
    env["KINKYU_NOTIFY_ACK_PORT"] = str(notify.ack_port)
    with log_path.open("ab") as out:
        proc = subprocess.Popen(  # our own command, with the interpreter running us
            [sys.executable, "-m", "kinkyu", "console"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    host = env["KINKYU_CONSOLE_HOST"]
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104  # compared, not bound
    url = f"http://{host}:{port}"
    problem = wait_healthy(proc, f"{url}/health", 30)
    if problem is None:
        return proc, url, logins
    stop_process(proc)
    return _t(lang, "desk.failed", problem=problem, log=log_path)


def _demo_desk(
    settings: WorkerSettings, notify: NotifierSettings, lang: Lang = "ja"
) -> tuple[NotifierSettings, subprocess.Popen[bytes] | None, str]:
    """Start the console for ``kinkyu run``: the notifier settings its links need, the process, the lines to print."""
    notify = _demo_ack_secret(notify)
    port = _demo_console_port()
    notify = _demo_links(notify, f"http://127.0.0.1:{port}")
    log_path = settings.data_dir / "console.log"
    started = _start_console(settings, notify, port, log_path, lang)
    if isinstance(started, str):
        return notify, None, _t(lang, "desk.down", why=started)
    proc, url, logins = started
    lines = "\n".join(f"      {role:<10} {username:<14} {password}" for role, username, password in logins)
    return notify, proc, _t(lang, "desk.up", url=url, log=log_path) + f"\n{lines}"


def _sample_files(samples: Path) -> list[tuple[str, Path]]:
    return [(f.stem, f) for f in sorted(samples.glob("*.jsonl")) if f.stem in {"access-log", "incident-events"}]


# An RFC 3339 date-time as events carry them (``ts``, ``occurred_at``, ``discovered_at``, a task's ``due``).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
SAMPLE_MARGIN = timedelta(minutes=1)  # the shifted sample ends at least this long before now
_SHIFT_SEARCH_DAYS = 800  # how far back from now a placement is looked for


def _as_time(value: str) -> datetime | None:
    if not _RFC3339.match(value):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _shift_value(value: Any, delta: timedelta) -> Any:
    if isinstance(value, str):
        when = _as_time(value)
        return value if when is None else (when + delta).isoformat()
    if isinstance(value, dict):
        return {k: _shift_value(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift_value(v, delta) for v in value]
    return value


def shift_event(event: dict[str, Any], delta: timedelta) -> dict[str, Any]:
    """``event`` with every RFC 3339 date-time in it (at any depth) moved by ``delta``, offsets kept."""
    shifted: dict[str, Any] = _shift_value(event, delta)
    return shifted


def sample_shift(
    days_by_contract: Mapping[str, set[date]],
    last: datetime,
    now: datetime,
    policies: Mapping[str, ContractPolicy],
) -> timedelta:
    """Whole days to move a recorded sample by so that it ends as late as possible before ``now``.

    A placement keeps what the rules judge by the calendar: every day of the sample stays a working
    day or a day off for its contract (weekends and 祝日 by ``work_hours``; the time of day is kept by
    whole days), and the sample stays before each contract's end (after it, every data action is a
    breach). With no such placement within :data:`_SHIFT_SEARCH_DAYS`, the sample is not moved.
    """
    latest = (now - SAMPLE_MARGIN - last).days  # floor: the last event lands at or before now - margin
    for days in range(latest, latest - _SHIFT_SEARCH_DAYS, -1):
        delta = timedelta(days=days)
        if all(_placement_keeps(policies.get(c), dates, last + delta, delta) for c, dates in days_by_contract.items()):
            return delta
    return timedelta(0)


def _placement_keeps(policy: ContractPolicy | None, dates: set[date], last: datetime, delta: timedelta) -> bool:
    if policy is None:
        return True
    if last.timestamp() >= policy.ends_t:
        return False
    hours = policy.work_hours
    return hours is None or all(is_working_day(hours, d) == is_working_day(hours, d + delta) for d in dates)


def dated_sample(
    files: list[tuple[str, Path]], now: datetime, policies: Mapping[str, ContractPolicy]
) -> tuple[list[tuple[str, list[bytes]]], timedelta]:
    """The sample's lines moved to end just before ``now`` (see :func:`sample_shift`), and by how much.

    Relative spacing is kept; a line that is not a JSON object is sent as it is (the sample plants a
    broken line on purpose: it goes to dead-letters).
    """
    parsed: list[tuple[str, list[bytes | dict[str, Any]]]] = []
    days: dict[str, set[date]] = {}
    last: datetime | None = None
    for name, path in files:
        lines: list[bytes | dict[str, Any]] = []
        for line in path.read_bytes().splitlines():
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                lines.append(line)
                continue
            ts = _as_time(obj["ts"]) if isinstance(obj, dict) and isinstance(obj.get("ts"), str) else None
            if ts is None:
                lines.append(line)
                continue
            days.setdefault(str(obj.get("contract_id")), set()).add(jst_date(ts))
            last = ts if last is None else max(last, ts)
            lines.append(obj)
        parsed.append((name, lines))
    delta = timedelta(0) if last is None else sample_shift(days, last, now, policies)
    out = [
        (name, [line if isinstance(line, bytes) else orjson.dumps(shift_event(line, delta)) for line in lines])
        for name, lines in parsed
    ]
    return out, delta


def _heartbeat(contract_id: str, system: str, when: datetime, event_id: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "ts": when.isoformat(),
            "contract_id": contract_id,
            "system": system,
            "actor": {"id": "system", "org": None, "role": "system"},
            "source": {"ip": "127.0.0.1"},
            "action": "heartbeat",
            "outcome": "success",
        }
    )


async def _feed_samples(worker: Worker, samples: Path, lang: Lang = "ja") -> None:
    """Send the bundled sample once the worker owns its partitions, then keep its systems' heartbeats going.

    The sample is recorded on fixed dates; it is sent dated to the last few days (whole days
    earlier or later, see :func:`dated_sample`), so nothing in it is ahead of the worker's clock and
    its incidents' deadlines count down from now.
    """
    await worker.stage.ready.wait()
    topics = worker.settings.topics
    broker = worker.connection
    started = datetime.now(JST)
    dated, delta = dated_sample(_sample_files(samples), started, compile_profiles(worker.contracts.profiles))
    last_ts: datetime | None = None
    systems: set[tuple[str, str]] = set()
    for name, lines in dated:
        for line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and obj.get("action") == "heartbeat":
                systems.add((obj["contract_id"], obj["system"]))
            if isinstance(obj, dict) and isinstance(obj.get("ts"), str):
                ts = datetime.fromisoformat(obj["ts"])
                last_ts = ts if last_ts is None else max(last_ts, ts)
        n = await produce_lines(broker, getattr(topics, name.replace("-", "_")), lines)
        print("   " + _t(lang, "sent", n=f"{n:,}", topic=name, days=f"{delta.days:+d}"), flush=True)
    if last_ts is None or not systems:
        return
    # The sample's systems stay alive: heartbeats fill the time from the sample's end to now, then go on
    # at the wall clock, so no outage is invented and no event is dated ahead of the worker's clock.
    seq = 0
    when = last_ts + HEARTBEAT_EVERY
    while True:
        beats = []
        while when <= datetime.now(JST):
            for contract_id, system in sorted(systems):
                seq += 1
                beats.append(_heartbeat(contract_id, system, when, f"demo-heartbeat-{started.timestamp():.0f}-{seq}"))
            when += HEARTBEAT_EVERY
        if beats:
            await produce_lines(broker, topics.access_log, beats)
        await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())


def _banner(
    settings: WorkerSettings, worker: Worker, lang: Lang, *, embedded: bool, lines: tuple[str, str, str, Path]
) -> str:
    """What ``kinkyu run`` prints once started: where everything is, in the terminal's language."""
    evidence, desk, mail, log_path = lines
    web = f"http://{settings.web_host}:{settings.web_port}"
    rows = (
        _t(lang, "banner.contracts", ids=", ".join(sorted(worker.contracts.profiles))),
        _t(lang, "banner.evidence", path=settings.evidence_path, how=evidence),
        _t(lang, "banner.health", url=f"{web}/health"),
        _t(lang, "banner.metrics", url=f"{web}/metrics"),
        desk,
        mail,
        _t(lang, "banner.acks", url=worker.notify_settings.ack_base_url, outbox=worker.notify_settings.outbox_dir),
        _t(lang, "banner.logs", path=log_path),
        _t(lang, "banner.stop"),
    )
    head = _t(lang, "banner.embedded" if embedded else "banner.broker", broker=settings.broker)
    return "\n".join([head, *("   " + row for row in rows)])


def run_demo(settings: WorkerSettings, samples: Path, lang: Lang = "ja") -> int:
    """``kinkyu run``: embedded broker (unless KINKYU_BROKER is set), worker, sample, incidents printed in ``lang``."""
    broker: EmbeddedBroker | None = None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "kinkyu-run.log"
    connection: BrokerConnection | None = None
    if "KINKYU_BROKER" not in os.environ:
        broker = EmbeddedBroker(log_path=settings.data_dir / "broker.log").start()
        settings = settings.model_copy(update={"broker": broker.bootstrap})
        # The embedded broker speaks plaintext on loopback: TLS/SASL settings meant for a real cluster do not
        # apply to it, here or in the console started beside it (which reads the environment).
        connection = BrokerConnection(broker.bootstrap)
        for name in [n for n in os.environ if n.startswith("KINKYU_BROKER_")]:
            del os.environ[name]
    handler = setup_logging(settings.log_format, settings.log_level)
    handler.setStream(log_path.open("a", encoding="utf-8"))  # the terminal is for incidents
    try:
        settings, evidence = _demo_keys(settings, lang)
    except EvidenceKeyError as exc:
        print(f"kinkyu: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sink: subprocess.Popen[bytes] | None = None
    console: subprocess.Popen[bytes] | None = None
    try:
        smtp, sink, mail = _demo_mail(settings, lang)
        notify, console, desk = _demo_desk(settings, _demo_notify(settings, embedded=broker is not None), lang)
        seen: set[str] = set()
        shown: set[str] = set()
        delivered: set[str] = set()
        try:
            worker = Worker(
                settings,
                on_incident=lambda r: _print_incident(r, seen, lang),
                on_playbook=lambda e: _print_playbook(e, shown, lang),
                on_notifier=lambda i, e: _print_delivery(i, e, delivered, lang),
                smtp=smtp,
                notify=notify,
                connection=connection,
            )
        except (PlaybookError, EvidenceKeyError, NotifierError, BrokerSettingsError) as exc:
            print(f"kinkyu: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(
            _banner(settings, worker, lang, embedded=broker is not None, lines=(evidence, desk, mail, log_path)),
            flush=True,
        )

        @worker.app.task  # type: ignore[untyped-decorator]  # faust's task decorator is untyped
        async def feed() -> None:
            try:
                await _feed_samples(worker, samples, lang)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  # the demo feed failing must not stop the worker
                print(f"kinkyu: {_t(lang, 'feed_failed', error=exc)}", file=sys.stderr)

        del feed
        code = _execute(worker)
    finally:
        if console is not None:
            stop_process(console)
        if sink is not None:
            stop_process(sink)
        if broker is not None:
            broker.stop()
    print(_t(lang, "stopped"), flush=True)
    return code
