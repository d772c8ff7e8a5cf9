"""A correction to faust's offset commits: never commit past a message a stream holds and has not acked.

Why. faust commits, per partition, the end of the first run of acked offsets.
faust-streaming 0.15.3 guards the head of that run with
``if committed: if min(acked) - committed > 1: return None``: when the
message at the committed offset itself is still being processed (a slow
playbook step, an e-mail in flight, a rebalance) the acked run starts one
past it, the difference is exactly 1, and faust commits over the unfinished
message. A kill or a rebalance before it is acked then loses it: the next
owner resumes after it and its effect (a playbook run, a first report) never
happens. The guard is also skipped for a committed offset of 0 (falsy).

- faust issue #606, "Wrong offset commit in case of gaps" (open):
  https://github.com/faust-streaming/faust/issues/606
- faust PR #707, "never commit past an in-flight (unacked) message" (open,
  the same rule as here): https://github.com/faust-streaming/faust/pull/707
- history of the guard: #312 / PR #313 (0.8.5) and #378 (0.9.0), which
  loosened it to let compacted topics' holes through.

The rule enforced here: the committed offset never passes a message a
stream has taken (faust tracks it in ``Consumer._unacked_messages``) and not
acked. An offset nobody holds below the acked run is a hole in the log (a
compacted record, a transaction marker) and does not stall commits, which is
what the upstream ``> 1`` tried to allow for (see :func:`_new_offset`).

Second, an ack from before a rebalance is not recorded as safe to commit:
faust acks, without running it, a message a stream takes while flow is
stopped for a rebalance or that was fetched in an earlier generation, and
that ack could later carry a commit past the same offset delivered again.
Such a message comes again from the committed offset if the partition stays
here, and goes to its new owner otherwise.

Checked against faust-streaming 0.15.3 (the version pinned in
pyproject.toml). :func:`apply` refuses any other version, and any change to
the source of the replaced methods, so an upgrade re-checks this module
against upstream (drop it once #707 or an equivalent fix is released).
"""

from __future__ import annotations

import hashlib
import inspect
from typing import TYPE_CHECKING, Any, Final

import faust
from faust.transport import consumer as faust_consumer
from faust.types.tuples import TP, Message, ack_lock
from mode.utils.futures import notify

from kinkyu.streams.exceptions import StreamsError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CHECKED_AGAINST", "FaustPatchError", "applied", "apply", "check_faust", "original"]

CHECKED_AGAINST: Final = "0.15.3"
# sha256 of inspect.getsource() of each method replaced, as in faust-streaming 0.15.3 installed here.
_SOURCES: Final = {
    "_new_offset": "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0",
    "ack": "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f",
}

_ORIGINALS: dict[str, Callable[..., Any]] = {}


class FaustPatchError(StreamsError):
    """The installed faust is not the one :mod:`streams.faust_fixes` was checked against; re-check the patch."""


def _source_digest(name: str) -> str:
    return hashlib.sha256(inspect.getsource(original(name)).encode()).hexdigest()


def check_faust() -> None:
    """Raise :class:`FaustPatchError` unless faust and the methods replaced are those this was checked against."""
    if faust.__version__ != CHECKED_AGAINST:
        msg = (
            f"faust {faust.__version__} is installed; streams/faust_fixes.py was checked against {CHECKED_AGAINST}: "
            "re-check faust's Consumer._new_offset and Consumer.ack (faust issue #606, PR #707) and update the patch"
        )
        raise FaustPatchError(msg)
    changed = sorted(name for name, digest in _SOURCES.items() if _source_digest(name) != digest)
    if changed:
        msg = f"faust's Consumer {', '.join(changed)} changed since streams/faust_fixes.py was written: re-check it"
        raise FaustPatchError(msg)


def _lowest_held(consumer: Any, tp: TP) -> int | None:  # a faust Consumer, used through its privates
    """The lowest offset of ``tp`` a stream took in this generation and has not acked, if any.

    A message of an earlier generation is read again from the committed offset (or by the partition's new owner).
    """
    generation = consumer.app.consumer_generation_id
    held = [
        m.offset
        for m in list(consumer._unacked_messages)  # noqa: SLF001  # faust's own bookkeeping
        if m.tp == tp and not m.acked and m.generation_id == generation
    ]
    return min(held) if held else None


def _new_offset(self: Any, tp: TP) -> int | None:  # replaces faust's Consumer._new_offset
    """The offset to commit for ``tp``: past the highest ack, never past a held message; or ``None``.

    Offsets of a partition reach the streams in order and a message is acked
    only once every stream subscribed has taken it, so an offset below an
    acked one is acked, held, or was never delivered (a hole of the log: a
    compacted record, a transaction marker). faust's own record of holes
    misses some (none is noted after a read of offset 0, nor at the committed
    offset itself), so it is not needed here; it is trimmed so it does not grow.
    """
    acked: list[int] = self._acked[tp]
    if not acked:
        return None
    acked.sort()
    end = acked[-1] + 1
    held = _lowest_held(self, tp)
    if held is not None and held < end:
        # The committed offset is the next one to read: stopping at the held message keeps it to be read again.
        end = held
    done = [offset for offset in acked if offset < end]
    if not done:
        return None
    del acked[: len(done)]
    self._acked_index[tp].difference_update(done)
    self._gap[tp].chop(0, end)
    return end


def _ack(self: Any, message: Message) -> bool:  # wraps faust's Consumer.ack
    """As faust's ``Consumer.ack``, but an ack from before a rebalance is not made safe to commit."""
    app = self.app
    with ack_lock:
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale and not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            return False
    return bool(_ORIGINALS["ack"](self, message))


def apply() -> None:
    """Install the corrected commit arithmetic on faust's Consumer; once per process, before the app is made.

    Raises :class:`FaustPatchError` if faust is not the version this was checked against.
    """
    if _ORIGINALS:
        return
    check_faust()
    cls = faust_consumer.Consumer
    _ORIGINALS["_new_offset"] = cls._new_offset
    _ORIGINALS["ack"] = cls.ack
    cls._new_offset = _new_offset  # type: ignore[method-assign]  # the point of this module
    cls.ack = _ack  # type: ignore[method-assign]  # the point of this module


def applied() -> bool:
    """Whether :func:`apply` has installed the patch in this process."""
    return bool(_ORIGINALS)


def original(name: str) -> Callable[..., Any]:
    """Faust's own method ``name`` (``_new_offset`` or ``ack``), patched or not: for the tests that show the bug."""
    return _ORIGINALS.get(name) or getattr(faust_consumer.Consumer, name)
