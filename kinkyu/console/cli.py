"""``kinkyu console``: serve the incident desk, or hash a password for the users file.

    kinkyu console [serve] [--host H] [--port P] [--users FILE] [--store DIR]
    kinkyu console hash-password          (reads the password from stdin, or asks twice on a terminal)
    kinkyu console add-user NAME --role R [--org O | --jurisdiction J] [--display-name D] [--users FILE]

``serve`` prints ``console listening on http://host:port`` once it listens
(port 0: any free port) and runs until SIGINT/SIGTERM. Exit codes: 0 done;
2 wrong usage; 3 a setting, the users file, a contract profile, a playbook or
the evidence key is unusable (the message names the variable or file to fix);
1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3

# A syntactically valid Argon2id PHC string (of nothing): lets add-user check the other fields first.
_WELL_FORMED_HASH = "$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _err(msg: str) -> None:
    sys.stderr.write(f"kinkyu: {msg}\n")


def add_console_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``console`` (with ``serve`` and ``hash-password``) to ``kinkyu``'s subcommands."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "console",
        help="serve the incident desk (web console), or hash a password for its users file",
        description="The incident desk: contractors file, city officials answer, reviewers read. "
        "Settings are KINKYU_CONSOLE_* (HOST, PORT, USERS, AUDIT, STORE, COOKIE_SECURE, SESSION_IDLE, "
        "SESSION_MAX) plus KINKYU_BROKER, KINKYU_TOPIC_PREFIX, KINKYU_DATA_DIR, KINKYU_CONTRACTS, "
        "KINKYU_PLAYBOOKS, KINKYU_EVIDENCE_KEY and KINKYU_NOTIFY_ACK_SECRET. "
        "Exit codes: 0 ok, 1 failure, 2 usage, 3 a setting or file to fix.",
    )
    actions = parser.add_subparsers(dest="console_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the console (the default)")
    for p in (parser, serve):
        p.add_argument("--host", help="address to listen on (default: $KINKYU_CONSOLE_HOST or 127.0.0.1)")
        p.add_argument("--port", type=int, help="port (default: $KINKYU_CONSOLE_PORT or 8080; 0 = any free port)")
        p.add_argument("--users", type=Path, help="users YAML (default: <data_dir>/console/users.yaml)")
        p.add_argument("--store", type=Path, help="incident store (default: <data_dir>/store)")
    actions.add_parser(
        "hash-password",
        help="print the Argon2id hash of a password for the users file (password from stdin)",
        description="Reads one password from stdin (asks twice on a terminal) and prints its Argon2id "
        "PHC string for a users file entry's password_hash.",
    )
    add = actions.add_parser(
        "add-user",
        help="add a login to the users file (password from stdin, or typed twice)",
        description="Appends one user to the users file (created 0600 when missing), keeping what is there. "
        "A contractor user needs --org (the contracts' contractor.org), a city user --jurisdiction. "
        "Exit codes: 0 added, 2 usage or a refused password, 3 the users file cannot take it.",
    )
    add.add_argument("username", help="the login name ([a-z0-9._-], up to 64)")
    add.add_argument("--role", required=True, choices=("contractor", "city", "reviewer", "admin"))
    add.add_argument("--org", help="contractor users: the contracts' contractor.org (e.g. acme)")
    add.add_argument("--jurisdiction", help="city users: the contracts' jurisdiction (e.g. koganei)")
    add.add_argument("--display-name", help="the name shown in the header and the audit view (default: username)")
    add.add_argument("--contracts", help="comma-separated contract ids: narrows the user to these")
    add.add_argument("--lang", choices=("ja", "en"), default="ja", help="the user's first language (default ja)")
    add.add_argument(
        "--users", type=Path, help="users YAML (default: $KINKYU_CONSOLE_USERS or <data_dir>/console/users.yaml)"
    )
    demo = actions.add_parser(
        "demo-users",
        help="write the demo users file for `kinkyu run`; print each login as a JSON line (new passwords each time)",
        description="Replaces the users file with the demo users, each with a fresh random password, and prints "
        'one JSON object per login on stdout ({"role", "username", "password"}): `kinkyu run` shows them once. '
        "Never for production. Exit codes: 0 written, 3 the users file cannot be written.",
    )
    demo.add_argument("--users", type=Path, required=True, help="the users YAML to write (0600)")
    parser.set_defaults(func=cmd_console)
    return parser


def cmd_console(args: argparse.Namespace) -> int:
    """Dispatch ``kinkyu console``'s actions."""
    if args.console_command == "hash-password":
        return cmd_hash_password()
    if args.console_command == "add-user":
        return cmd_add_user(args)
    if args.console_command == "demo-users":
        return cmd_demo_users(args.users)
    return cmd_serve(args)


def _read_password() -> str | None:
    """A password typed twice on a terminal, or the first line of stdin; None (said why) when there is none."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            _err("the passwords differ; nothing done")
            return None
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _err("no password given (type it, or pipe it on stdin)")
        return None
    return password


def cmd_add_user(args: argparse.Namespace) -> int:
    """Add a login to the users file; 2 for usage or a refused password, 3 when the file cannot take it."""
    from pydantic import ValidationError  # noqa: PLC0415

    from kinkyu.console.exceptions import PasswordPolicyError, UserFileError  # noqa: PLC0415
    from kinkyu.console.settings import describe_settings_error  # noqa: PLC0415
    from kinkyu.console.users import UserRecord, add_user, hash_password  # noqa: PLC0415

    try:
        path = args.users or load_settings().users_path
    except ValidationError as exc:
        _err(describe_settings_error(exc))
        return EXIT_CONFIG
    fields = {
        "username": args.username,
        "display_name": args.display_name or args.username,
        "role": args.role,
        "org": args.org,
        "jurisdiction": args.jurisdiction,
        "contracts": [c.strip() for c in args.contracts.split(",") if c.strip()] if args.contracts else None,
        "lang": args.lang,
    }
    try:
        # Checked before the password is asked for: a typo in --role or --org costs no typing.
        UserRecord.model_validate({**fields, "password_hash": _WELL_FORMED_HASH})
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_input=False))
        _err(f"user not added: {problems}")
        return EXIT_USAGE
    password = _read_password()
    if password is None:
        return EXIT_USAGE
    try:
        record = UserRecord.model_validate({**fields, "password_hash": hash_password(password)})
        add_user(path, record)
    except PasswordPolicyError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except UserFileError as exc:
        _err(f"user not added: {exc}")
        return EXIT_CONFIG
    print(f"added {record.username} ({record.role}) to {path}")  # noqa: T201  # the command's result
    return EXIT_OK


def cmd_demo_users(path: Path) -> int:
    """Write the demo users file at ``path`` and print the logins as JSON lines; 3 when it cannot be written."""
    import orjson  # noqa: PLC0415

    from kinkyu.console.exceptions import ConsoleConfigError  # noqa: PLC0415  # argon2 loads only for this
    from kinkyu.console.users import write_demo_logins  # noqa: PLC0415

    try:
        logins = write_demo_logins(path)
    except ConsoleConfigError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    for login in logins:
        line = orjson.dumps({"role": login.role, "username": login.username, "password": login.password})
        sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()
    return EXIT_OK


def cmd_hash_password() -> int:
    """Hash a password read from stdin (or typed twice on a terminal)."""
    from kinkyu.console.exceptions import PasswordPolicyError  # noqa: PLC0415  # argon2 loads only here
    from kinkyu.console.users import hash_password  # noqa: PLC0415

    password = _read_password()
    if password is None:
        return EXIT_USAGE
    try:
        print(hash_password(password))  # noqa: T201  # the hash is this command's output
    except PasswordPolicyError as exc:
        _err(str(exc))
        return EXIT_USAGE
    return EXIT_OK


def load_settings(args: argparse.Namespace | None = None, **overrides: Any) -> Any:
    """ConsoleSettings from the environment, command-line flags and ``overrides`` (ValidationError when invalid)."""
    from kinkyu.console.settings import ConsoleSettings  # noqa: PLC0415

    values = {k: v for k, v in overrides.items() if v is not None}
    if args is not None:
        for name in ("host", "port", "users", "store"):
            value = getattr(args, name, None)
            if value is not None:
                values[name] = value
    return ConsoleSettings(**values)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 3 for a setting or file to fix."""
    from pydantic import ValidationError  # noqa: PLC0415

    from kinkyu.console.settings import describe_settings_error  # noqa: PLC0415

    try:
        settings = load_settings(args)
    except ValidationError as exc:
        _err(describe_settings_error(exc))
        return EXIT_CONFIG
    return serve(settings)


def serve(settings: Any, *, on_listening: Callable[[str], None] | None = None) -> int:
    """Run the console with ``settings`` until a signal; exit code as the module docstring says."""
    from kinkyu.bus.exceptions import BrokerSettingsError  # noqa: PLC0415
    from kinkyu.console.exceptions import ConsoleConfigError  # noqa: PLC0415
    from kinkyu.core.playbook import PlaybookError  # noqa: PLC0415
    from kinkyu.evidence.exceptions import EvidenceKeyError  # noqa: PLC0415
    from kinkyu.exceptions import ContractError  # noqa: PLC0415
    from kinkyu.logs import setup_logging  # noqa: PLC0415

    setup_logging(settings.log_format, settings.log_level)
    for chatty in ("weasyprint", "fontTools"):
        # A PDF download logs every layout step at INFO: noise, and nothing an operator acts on.
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(settings, on_listening or _announce))
    except (ConsoleConfigError, ContractError, PlaybookError, EvidenceKeyError, BrokerSettingsError) as exc:
        _err(f"console not started: {exc}")
        return EXIT_CONFIG
    except OSError as exc:
        _err(
            f"console cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
            "set KINKYU_CONSOLE_PORT (0 = any free port) or KINKYU_CONSOLE_HOST"
        )
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK


def _announce(url: str) -> None:
    print(f"console listening on {url}", flush=True)  # noqa: T201  # the address is what the person needs


async def _serve(settings: Any, on_listening: Callable[[str], None]) -> int:
    from aiohttp import web  # noqa: PLC0415

    from kinkyu.console.app import make_console_app  # noqa: PLC0415
    from kinkyu.console.producer import KafkaEventProducer  # noqa: PLC0415
    from kinkyu.web.server import listening_port  # noqa: PLC0415

    producer = KafkaEventProducer(settings.broker_connection(), settings.topic_prefix, timeout=settings.send_timeout)
    app = make_console_app(settings, producer=producer)
    # No access log: a request line can hold an acknowledgement token, and paths name incidents people viewed
    # (the audit log is the record of that).
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host  # noqa: S104  # compared, not bound
        # A TCP site always has a port (0 asks for a free one, and this reads which).
        on_listening(f"http://{host}:{listening_port(runner) or settings.port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    return EXIT_OK
