"""A tiny SMTP sink for ``make run`` and the tests: keeps every message, delivers none.

``python -m notifiers.smtp_sink --port 1025 --dir var/mail`` listens on
127.0.0.1 (``--host`` to change), writes each message it receives to the
folder as ``<n>-<message id>.eml`` (the raw bytes, as received) and prints
one line per message: the Message-ID, the recipients and the decoded
subject. Point the notifier at it with ``KINKYU_SMTP_HOST=127.0.0.1
KINKYU_SMTP_PORT=1025 KINKYU_SMTP_SECURITY=none``. Ctrl-C (or SIGTERM) stops it.

:class:`SmtpSink` is the same server as an object in the caller's event
loop (the integration tests start and stop it to simulate an outage).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from kinkyu.private import make_files_private

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the sink accepted."""

    number: int
    message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    path: Path | None
    # time.monotonic() when the sender's MAIL FROM arrived: a message begun before a sender died may still arrive.
    begun: float = 0.0


class SinkHandler:
    """aiosmtpd handler: parses headers, writes the .eml, reports one line, answers 250."""

    def __init__(self, folder: Path | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.echo = echo
        self.messages: list[ReceivedMessage] = []
        self._begun: dict[int, float] = {}  # id(envelope) -> when its MAIL FROM arrived
        if folder is not None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Note when the transaction began (aiosmtpd's MAIL hook), then accept the sender as aiosmtpd would."""
        del server, session
        self._begun[id(envelope)] = time.monotonic()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Accept the message (aiosmtpd's DATA hook)."""
        del server, session
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        message_id = str(parsed.get("Message-ID", "") or "").strip()
        subject = str(parsed.get("Subject", "") or "")
        number = len(self.messages) + 1
        path = None
        if self.folder is not None:
            stem = _SAFE.sub("_", message_id.strip("<>"))[:120] or "no-message-id"
            path = self.folder / f"{number:06d}-{stem}.eml"
            tmp = path.with_suffix(".tmp")
            # 0600 whatever the umask: the message holds its acknowledgement link, a credential.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            tmp.replace(path)
        received = ReceivedMessage(
            number=number,
            message_id=message_id,
            mail_from=str(envelope.mail_from or ""),
            recipients=tuple(str(r) for r in envelope.rcpt_tos),
            subject=subject,
            raw=raw,
            path=path,
            begun=self._begun.pop(id(envelope), time.monotonic()),
        )
        self.messages.append(received)
        if self.echo is not None:
            self.echo(f"{message_id or '(no Message-ID)'} to={','.join(received.recipients)} subject={subject}")
        return f"250 OK: kept as message {number}"


class SmtpSink:
    """The sink as a server in the running event loop: ``await start()``, ``await stop()``, ``messages``.

    ``port=0`` picks a free port (read :attr:`port` after :meth:`start`);
    stopping and starting again reuses the port, as a server restart would.
    ``handler`` replaces the default :class:`SinkHandler` (tests refuse recipients with it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        folder: Path | None = None,
        echo: Callable[[str], None] | None = None,
        handler: SinkHandler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.handler = handler or SinkHandler(folder, echo)
        self._server: asyncio.Server | None = None
        # Every session served, so stop() can end the open ones too (asyncio's close_clients() is 3.13+).
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Every message accepted so far (across restarts), in order."""
        return self.handler.messages

    async def start(self) -> None:
        """Listen (again) on ``host:port``."""
        loop = asyncio.get_running_loop()

        def factory() -> SMTP:
            session = SMTP(self.handler, hostname="kinkyu-sink", enable_SMTPUTF8=True, loop=loop)
            self._sessions.add(session)
            return session

        self._server = await loop.create_server(factory, self.host, self.port)
        sockets: Any = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening (connections already open are closed too)."""
        if self._server is not None:
            self._server.close()
            # A client keeps its connection between messages: a stopped server must drop it, as a dead one would.
            for session in list(self._sessions):
                transport = session.transport
                if transport is not None and not transport.is_closing():
                    transport.close()
            await self._server.wait_closed()
            self._server = None


def _echo(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(host: str, port: int, folder: Path) -> None:
    sink = SmtpSink(host, port, folder, echo=_echo)
    await sink.start()
    _echo(f"smtp sink listening on {sink.host}:{sink.port}, writing to {folder}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sink.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the sink until interrupted; exit code 0, or 2 for wrong usage."""
    parser = argparse.ArgumentParser(prog="python -m notifiers.smtp_sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on (default 1025; 0 = any free)")
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), help="folder for the .eml files")
    args = parser.parse_args(argv)
    make_files_private()
    try:
        asyncio.run(_serve(args.host, args.port, args.dir))
    except OSError as exc:
        sys.stderr.write(f"smtp sink: cannot listen on {args.host}:{args.port} ({exc.strerror})\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
