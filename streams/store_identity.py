"""One record, however many workers: every worker must write the same (shared) incident store and evidence folder.

Workers on several machines each keep their own data folder (the outbox is
one worker's), but the incident store the console and ``kinkyu report``
read and the evidence store ``kinkyu evidence verify`` reads must be one,
shared by all of them (a shared volume), or the record splits: evidence of
some incidents in one folder, of others in another.

So each such folder carries a store id (:data:`STORE_ID_FILE`, a random
UUID written on first start), and the broker records the deployment's id
per folder role on the compacted topic ``<prefix>kinkyu-stores``, one key
per id written (``<role>/<id>``, value ``{"role", "store_id"}``), the
earliest record of a role being the deployment's. A worker starting:

- with no id recorded for the role: takes the folder's id (writing one if
  the folder has none) and records it; if another worker recorded another
  id at the same moment, the earlier record wins and the later worker stops;
- with an id recorded: its folder must hold the same id. A folder with no id
  or another id is not the shared one: :class:`StoreMismatchError`, and
  ``kinkyu worker`` exits 3 saying what to mount or set.

Ids and folder names only: nothing here holds personal information.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import orjson
from aiokafka import TopicPartition

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.bus.sink import KafkaSink, Record
from kinkyu.streams.exceptions import StreamsError

log = logging.getLogger("kinkyu.store")

STORE_ID_FILE = ".kinkyu-store-id"
_EXTRA_FETCHES = 2  # fetches past the reported end: some brokers report it short of the last batch


class StoreMismatchError(StreamsError):
    """A worker's store folder is not the one this deployment's workers share (``kinkyu worker`` exits 3)."""


def folder_id(folder: Path) -> str | None:
    """The store id a folder holds, or None."""
    try:
        text = (folder / STORE_ID_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreMismatchError(f"cannot read the store id {folder / STORE_ID_FILE}: {type(exc).__name__}") from exc
    return text or None


def _claim(folder: Path) -> str:
    """The folder's store id, written first if it has none (two workers sharing it read the one written first).

    The id is written whole to a file of its own and then linked into place:
    a link fails if the name exists and is never seen half-written, so a
    worker starting at the same moment reads the complete id of the first
    (an ``O_EXCL`` create exposed the empty file between create and write).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STORE_ID_FILE
    new = str(uuid.uuid4())
    draft = folder / f"{STORE_ID_FILE}.{new}"
    try:
        with draft.open("x", encoding="ascii") as f:
            f.write(new + "\n")
            f.flush()
            os.fsync(f.fileno())
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            have = folder_id(folder)
            if have is None:
                raise StoreMismatchError(f"the store id {path} is empty: remove it to start afresh") from None
            return have
    finally:
        draft.unlink(missing_ok=True)
    return new


async def recorded_ids(bootstrap: BrokerConnection | str, topic: str) -> dict[str, str]:
    """The deployment's store id per role: the earliest record of each role on ``topic`` (empty if none)."""
    connection = as_connection(bootstrap)
    reader = connection.consumer(enable_auto_commit=False, fetch_max_wait_ms=100)
    await connection.start(reader, "the store id reader")
    found: dict[str, str] = {}
    try:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        extra = 0
        while True:
            batch = await reader.getmany(tp, timeout_ms=300)
            msgs = batch.get(tp, [])
            for msg in msgs:
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                    data = orjson.loads(msg.value or b"")
                    found.setdefault(str(data["role"]), str(data["store_id"]))
            if await reader.position(tp) >= end:
                extra += 1
                if not msgs or extra > _EXTRA_FETCHES:
                    break
    finally:
        await reader.stop()
    return found


async def check_shared_stores(
    bootstrap: BrokerConnection | str, topic: str, folders: Mapping[str, Path], *, setting: Mapping[str, str]
) -> dict[str, str]:
    """Check (or, on a deployment's first start, record) that each folder is the deployment's shared one.

    ``folders`` maps a role (``store``, ``evidence``) to this worker's folder;
    ``setting`` names the variable that places each. Returns the id per role.
    Raises :class:`StoreMismatchError` when a folder is not the shared one.
    """
    connection = as_connection(bootstrap)
    recorded = await recorded_ids(connection, topic)
    claimed: dict[str, str] = {}
    for role, folder in folders.items():
        known = recorded.get(role)
        local = folder_id(folder)
        if known is None:
            claimed[role] = _claim(folder)
        elif local != known:
            what = "holds no store id" if local is None else f"holds store id {local}"
            raise StoreMismatchError(
                f"the {role} folder {folder} {what}, but this deployment's workers share the {role} folder "
                f"with id {known} (recorded on {topic}): every worker must write the same {role} folder, or "
                f"the record splits. Mount the shared volume there or point {setting[role]} at it; if this is "
                f"a new deployment on a broker that keeps an old one's topics, use a new KINKYU_TOPIC_PREFIX"
            )
    if claimed:
        sink = KafkaSink(connection)
        await sink.start()
        try:
            await sink.send_all(
                [
                    Record(topic, f"{role}/{sid}".encode(), orjson.dumps({"role": role, "store_id": sid}))
                    for role, sid in claimed.items()
                ]
            )
        finally:
            await sink.stop()
        # Two first workers at once: the earlier record is the deployment's, the later worker stops.
        recorded = await recorded_ids(connection, topic)
        for role, sid in claimed.items():
            if recorded.get(role) != sid:
                raise StoreMismatchError(
                    f"the {role} folder {folders[role]} holds store id {sid}, but another worker recorded "
                    f"{recorded.get(role)} first: the workers do not share one {role} folder; mount the shared "
                    f"volume there or point {setting[role]} at it"
                )
        log.info("store ids recorded", extra={"roles": sorted(claimed)})
    return {role: recorded[role] for role in folders}
