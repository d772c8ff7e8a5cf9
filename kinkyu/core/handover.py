"""Escalation chains handed from worker to worker: what the shared copy says, and what a new owner still owes (pure).

Each worker runs the chains of the ``notifications`` partitions it owns. So
that a chain follows its partition when a worker dies or a rebalance moves
it, every change to an incident's chains is published on a compacted topic
keyed by incident id (:mod:`kinkyu.notifiers.handover`), and the partition's
next owner continues from that copy. Two copies of one chain (a worker's own
journal and the topic, or two workers that both ran it around a rebalance)
are folded by :func:`merge_chain`, which never loses progress or an
acknowledgement:

- the copy that carried out more stages wins (its last send time and bump
  with it): a stage is never carried out twice, the next one is never
  brought forward;
- an acknowledgement in either copy stands (the earliest one): a chain
  stopped on one worker is stopped everywhere.

It is a join (commutative, associative, idempotent), so the order in which
copies arrive does not matter.

A chain's stages record whom it *told*, but a worker that dies may have
queued a stage's message and never delivered it. :func:`told_sends` gives
back every send the carried-out stages made, exactly as
:meth:`EscalationState.next_step` made them, so the new owner queues again
each one the delivery ledger does not have settled (the ledger keeps one
that was delivered from going twice).

The shared copy holds ids, contact references (``city:0``), times and the
``notifications`` record the chain was made from: nothing that is not
already on a topic, and no address.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from kinkyu.core.escalation import EscalationError, EscalationState, Purpose, Send

BOARD_VERSION = 1


_NEVER = datetime.min.replace(tzinfo=UTC)


def _progress(chain: EscalationState) -> tuple[int, datetime, datetime]:
    # Stage first; then the later send and bump, so the tie-break is the same on every worker whichever copy it holds.
    return (chain.stage, chain.last_sent_at or _NEVER, chain.bumped_at or _NEVER)


def merge_chain(a: EscalationState, b: EscalationState) -> EscalationState:
    """One chain from two copies of it: the more advanced progress, and any acknowledgement (the earliest).

    EscalationError when ``a`` and ``b`` are not copies of one chain.
    """
    if a.chain_id != b.chain_id or a.incident_id != b.incident_id:
        raise EscalationError("only copies of one chain can be merged")
    ahead = a if _progress(a) >= _progress(b) else b
    merged = EscalationState.from_json(ahead.to_json())
    acks = [(c.acknowledged_at, c.acknowledged_by or "") for c in (a, b) if c.acknowledged_at is not None]
    if acks:
        at, by = min(acks, key=lambda ack: (ack[0], ack[1]))
        merged.acknowledged_at, merged.acknowledged_by = at, by or None
    else:
        merged.acknowledged_at = merged.acknowledged_by = None
    return merged


def merge_chains(mine: Iterable[EscalationState], theirs: Iterable[EscalationState]) -> dict[str, EscalationState]:
    """Every chain of either side by chain id, copies of one chain merged (:func:`merge_chain`)."""
    out: dict[str, EscalationState] = {}
    for chain in (*mine, *theirs):
        have = out.get(chain.chain_id)
        out[chain.chain_id] = chain if have is None else merge_chain(have, chain)
    return out


def sends_of_stage(chain: EscalationState, stage: int) -> list[Send]:
    """The sends stage ``stage`` of ``chain`` makes (as :meth:`EscalationState.next_step` makes them)."""
    silent = chain.ladder[:stage]
    if stage < len(chain.ladder):
        purpose: Purpose = "notify" if stage == 0 else "escalated"
        return [Send(chain.chain_id, chain.incident_id, chain.ladder[stage], purpose, stage, silent)]
    if stage == len(chain.ladder) and chain.final:
        return [Send(chain.chain_id, chain.incident_id, r, "unanswered", stage, silent) for r in chain.final]
    return []


def told_sends(chain: EscalationState) -> list[Send]:
    """Every send the stages carried out so far made, in order: what a new owner checks against the ledger."""
    return [send for stage in range(min(chain.stage, chain.stages)) for send in sends_of_stage(chain, stage)]


def encode_board(incident_id: str, chains: Iterable[EscalationState]) -> bytes:
    """The topic value holding every chain of ``incident_id`` (compaction keeps the newest per incident)."""
    ordered = sorted(chains, key=lambda c: c.chain_id)
    for chain in ordered:
        if chain.incident_id != incident_id:
            raise EscalationError("a board holds the chains of one incident")
    return orjson.dumps({"v": BOARD_VERSION, "incident_id": incident_id, "chains": [c.to_json() for c in ordered]})


def decode_board(value: bytes | None) -> tuple[str, list[EscalationState]]:
    """``(incident_id, chains)`` from a topic value; EscalationError naming what is wrong."""
    try:
        body: Any = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise EscalationError("a chain board is not JSON") from exc
    if not isinstance(body, dict) or body.get("v") != BOARD_VERSION:
        raise EscalationError("a chain board has no known format (v)")
    incident_id, raw = body.get("incident_id"), body.get("chains")
    if not isinstance(incident_id, str) or not isinstance(raw, list):
        raise EscalationError("a chain board needs incident_id and chains")
    chains = [EscalationState.from_json(c) for c in raw]
    if any(c.incident_id != incident_id for c in chains):
        raise EscalationError("a chain board holds another incident's chain")
    return incident_id, chains
