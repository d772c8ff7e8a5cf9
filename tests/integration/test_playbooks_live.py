"""Each jurisdiction's playbook end to end on a real broker, as ``kinkyu worker`` runs it.

Events are stamped with the wall clock (the stage runs deadlines on it). Each
test uses a copy of the sample contracts without work hours (so a weekend run
sees no off-hours findings) and with short ``response:`` durations, so a
deadline passes within the test.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from conftest import INTEGRITY_KEY, Pipeline, values

from kinkyu.core.evidence import key_from_config, open_bundle
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import DEFAULT_URGENCY
from kinkyu.evidence.anchor import read_anchors
from kinkyu.evidence.store import EvidenceStore
from kinkyu.streams.process import KinkyuProcess

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

SYSTEM = "juki-portal"
INTRUDER = "x9999"
STAFF = "u1042"

# jurisdiction -> (contract, the first report's clause word, the playbook's other city reports and their words)
CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "okayama": ("okayama-2026-003", "直ちに", {}),
    "chiba": ("chiba-2026-021", "速やかに", {}),
    "yachiyo": ("yachiyo-2026-008", "速やかに", {}),
    "koganei": ("koganei-2026-017", "直ちに", {}),
    "toyota": ("toyota-2026-012", "直ちに", {}),
    "shinagawa": ("shinagawa-2026-005", "直ちに", {"written_report": "遅滞なく"}),
}


# Jurisdictions whose first report is written (書面): done on the city's receipt, not the e-mail's acknowledgement.
WRITTEN_FIRST = frozenset({"koganei", "toyota"})
# Jurisdictions whose clause names the risk of a breach (risk: true): a detection reports at once, no triage.
RISK_REPORTED = frozenset({"okayama", "chiba", "yachiyo"})


def now() -> datetime:
    return datetime.now(UTC)


class Scene:
    """One contract's world: its network, and helpers to make its events."""

    def __init__(self, pipeline: Pipeline, contract: str) -> None:
        self.pipeline = pipeline
        self.contract = contract
        profile = yaml.safe_load((pipeline.contracts / f"{contract}.yaml").read_text(encoding="utf-8"))
        site = profile["sites"][0]
        self.site = site["id"]
        self.ip = site["networks"][0].split("/")[0].rsplit(".", 2)[0] + ".3.4"

    def access(self, actor: str, at: datetime, *, system: str = SYSTEM) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "ts": at.isoformat(),
            "contract_id": self.contract,
            "system": system,
            "actor": {"id": actor, "org": "acme", "role": "operator"},
            "source": {"ip": self.ip, "host": "pc-17", "site": self.site},
            "action": "read",
            "resource": {"dataset": "residents", "records": 2, "fields": ["name", "address"]},
            "outcome": "success",
        }

    def filed(self, kind: str, incident_id: str | None = None, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "ts": now().isoformat(),
            "contract_id": self.contract,
            "kind": kind,
            "incident_id": incident_id,
            "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
            **fields,
        }

    async def log(self, *events: dict[str, Any]) -> None:
        await self.pipeline.produce(
            self.pipeline.topics.access_log, [orjson.dumps(e) for e in events], key=self.contract.encode()
        )

    async def file(self, *events: dict[str, Any]) -> None:
        await self.pipeline.produce(
            self.pipeline.topics.incident_events, [orjson.dumps(e) for e in events], key=self.contract.encode()
        )


def fast_contracts(pipeline: Pipeline, tmp_path: Path, **response: Any) -> None:
    """A copy of the sample contracts without work hours and with ``response`` set; the worker uses it."""
    folder = tmp_path / "contracts"
    shutil.copytree(pipeline.contracts, folder)
    for path in folder.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile.pop("work_hours", None)
        profile["response"] = response
        path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    pipeline.contracts = folder


def evidence_env(tmp_path: Path) -> tuple[dict[str, str], bytes]:
    text = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {
        "KINKYU_EVIDENCE_KEY": text,
        "KINKYU_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "KINKYU_TICK_INTERVAL": "0.5",
        "KINKYU_LATENESS": "1",
    }
    return env, key_from_config(text)


# -- reading the outputs ------------------------------------------------------------------------------


def latest(records: list[Any], incident_id: str) -> dict[str, Any] | None:
    """The newest incident-state record of an incident (highest version)."""
    mine = [v for v in values(records) if v["incident_id"] == incident_id]
    return max(mine, key=lambda v: v["version"]) if mine else None


def describe(state: dict[str, Any] | None) -> str:
    if state is None:
        return "no state"
    run = state["run"]
    steps = {s["step_id"]: s["status"] for s in run["steps"]}
    tasks = {t["task_id"]: (t["status"], t["missed"]) for t in run["tasks"]}
    kinds = [e["kind"] for e in run["timeline"]]
    return f"v{state['version']} {run['state']} steps={steps} tasks={tasks} timeline={kinds}"


SEAL_KINDS = frozenset({"evidence_sealed", "evidence_not_sealed"})


def entries(state: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in state["run"]["timeline"] if e["kind"] == kind]


def seals(state: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The phases of the seals recorded on the timeline, and of those still pending."""
    done = [str(e["data"].get("phase")) for e in state["run"]["timeline"] if e["kind"] in SEAL_KINDS]
    return done, [str(p["phase"]) for p in state["pending"]]


def step(state: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in state["run"]["steps"] if s["step_id"] == step_id)


def task(state: dict[str, Any], task_id: str) -> dict[str, Any] | None:
    return next((t for t in state["run"]["tasks"] if t["task_id"] == task_id), None)


async def wait_state(pipeline: Pipeline, incident_id: str, ok: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
    def done(records: list[Any]) -> bool:
        state = latest(records, incident_id)
        return state is not None and bool(ok(state))

    records = await pipeline.read(pipeline.topics.incident_state, done, timeout=timeout)
    state = latest(records, incident_id)
    assert state is not None
    assert ok(state), f"incident-state of {incident_id} never showed {what}: {describe(state)}"
    return state


async def opened_incident(pipeline: Pipeline, match: Any, timeout: float = 30.0) -> dict[str, Any]:
    def hits(records: list[Any]) -> list[dict[str, Any]]:
        return [v for v in values(records) if v.get("change") == "opened" and match(v)]

    found = hits(await pipeline.read(pipeline.topics.incidents, lambda r: bool(hits(r)), timeout=timeout))
    assert found, "the incident never opened"
    return found[0]


def by_effect_id(records: list[Any], incident_id: str) -> dict[str, dict[str, Any]]:
    """Output messages of one incident, deduplicated by effect id (consumers drop redelivered duplicates)."""
    return {v["effect_id"]: v for v in values(records) if v["incident_id"] == incident_id}


async def notifications(pipeline: Pipeline, incident_id: str, ok: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    records = await pipeline.read(
        pipeline.topics.notifications, lambda r: ok(list(by_effect_id(r, incident_id).values())), timeout=timeout
    )
    return list(by_effect_id(records, incident_id).values())


def escalated(notes: list[dict[str, Any]], task_id: str) -> bool:
    return any(n["effect"] == "escalate" and n["task_id"] == task_id for n in notes)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- each jurisdiction -----------------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction", sorted(CASES))
async def test_a_detection_runs_the_jurisdictions_playbook_end_to_end(
    pipeline: Pipeline, tmp_path: Path, jurisdiction: str
) -> None:
    contract, word, other_reports = CASES[jurisdiction]
    fast_contracts(pipeline, tmp_path, instruction_within="2s", evidence_window="4s")
    env, key = evidence_env(tmp_path)
    w = pipeline.worker(**env).start()
    scene = Scene(pipeline, contract)
    w.wait_healthy()

    t = now()
    old = scene.access(STAFF, t - timedelta(hours=2))  # same system, long before the window
    before = scene.access(STAFF, t - timedelta(seconds=2))  # same system, inside the window
    elsewhere = scene.access(STAFF, t - timedelta(seconds=1), system="other-system")  # neither actor nor system
    trigger = scene.access(INTRUDER, t)
    await scene.log(old, before, elsewhere, trigger)
    incident = await opened_incident(pipeline, lambda v: v["actor"] == INTRUDER and v["contract_id"] == contract)
    incident_id = incident["incident_id"]
    assert "unregistered-actor" in incident["rules"]

    # Evidence at open holds what exists now; an event after it, still inside the window, goes in the second seal.
    first_seal = await wait_state(pipeline, incident_id, lambda s: entries(s, "evidence_sealed"), "a sealed bundle")
    assert entries(first_seal, "evidence_sealed")[0]["data"]["again_after"] is not None
    after = scene.access(STAFF, t + timedelta(seconds=2))
    await scene.log(after)
    # Triage confirms; the city gives an instruction (due by the contract's 2 s) and acknowledges the first
    # report; a written one (小金井市 第19条, 豊田市 第13条) also needs the city's receipt of the 事故報告書.
    receipt = [{"step": "first_report", "receipt": "console"}] if jurisdiction in WRITTEN_FIRST else []
    await scene.file(
        scene.filed("update", incident_id, data={"triage": "confirm", "reason": "unregistered-account"}),
        scene.filed("city_instruction", incident_id, data={"task_id": "submit-access-log", "title": "submit-log"}),
        scene.filed("acknowledgement", incident_id, data={"step": "first_report"}),
        *[scene.filed("acknowledgement", incident_id, data=data) for data in receipt],
    )
    state = await wait_state(
        pipeline,
        incident_id,
        lambda s: (
            step(s, "first_report")["status"] == "done"
            and (task(s, "submit-access-log") or {}).get("missed")
            and len(entries(s, "evidence_sealed")) == 2
        ),
        "the report acknowledged, the instruction's deadline missed and the after-window seal",
    )

    await _reports_fall_due_by_the_clause_word_and_a_missed_deadline_escalates_once(
        pipeline, state, jurisdiction, word, other_reports
    )
    await _containment_targets_the_intruders_account(pipeline, incident_id)
    await _evidence_is_sealed_twice_and_verifies(pipeline, tmp_path, key, state, [before, trigger, after])
    await _an_open_instruction_blocks_closure_until_done(pipeline, scene, incident_id)
    if jurisdiction == "koganei":
        await _koganei_complaint_is_reported_at_once(pipeline, scene)
    if jurisdiction == "toyota":
        await _toyota_outage_filed_is_reported_at_once(pipeline, scene)
    _, metrics = w.get("/metrics")
    assert 'kinkyu_effects_total{kind="escalate"} 1.0' in metrics.decode()
    assert 'kinkyu_evidence_seals_total{result="sealed"}' in metrics.decode()


async def _reports_fall_due_by_the_clause_word_and_a_missed_deadline_escalates_once(
    pipeline: Pipeline, state: dict[str, Any], jurisdiction: str, word: str, other_reports: dict[str, str]
) -> None:
    incident_id = state["incident_id"]
    notes = await notifications(pipeline, incident_id, lambda n: any(e["effect"] == "escalate" for e in n))
    confirmed = ts(state["run"]["confirmed_at"])
    reports = {n["kind"]: n for n in notes if n["effect"] == "notify" and n["audience"] == "city"}
    first = reports["first_report"]
    assert first["urgency"] == word
    assert ts(first["due"]) == confirmed + DEFAULT_URGENCY[word]  # type: ignore[index]
    assert first["possible"] is True, "a detection is reported as a possible breach (おそれ)"
    assert first["jurisdiction"] == jurisdiction
    for kind, other_word in other_reports.items():
        assert ts(reports[kind]["due"]) == confirmed + DEFAULT_URGENCY[other_word]  # type: ignore[index]
    triaged = any(n.get("kind") == "triage_due" and n["audience"] == "contractor" for n in notes)
    assert triaged is (jurisdiction not in RISK_REPORTED)
    # The instruction's deadline: one deadline_missed, one escalation; the acknowledged report is not chased.
    escalations = [n for n in notes if n["effect"] == "escalate"]
    assert [(e["reason"], e["task_id"]) for e in escalations] == [("deadline_missed", "submit-access-log")]
    assert len(entries(state, "deadline_missed")) == 1
    assert step(state, "first_report")["missed"] is False


async def _containment_targets_the_intruders_account(pipeline: Pipeline, incident_id: str) -> None:
    commands = values(
        await pipeline.read(pipeline.topics.containment_commands, lambda r: len(by_effect_id(r, incident_id)) >= 2)
    )
    mine = [c for c in commands if c["incident_id"] == incident_id]
    assert sorted(c["action"] for c in mine) == ["disable_account", "end_sessions"]
    assert {(c["target_type"], c["target"], c["auto"]) for c in mine} == {("account", INTRUDER, False)}


async def _evidence_is_sealed_twice_and_verifies(
    pipeline: Pipeline, tmp_path: Path, key: bytes, state: dict[str, Any], in_scope: list[dict[str, Any]]
) -> None:
    incident_id = state["incident_id"]
    sealed = entries(state, "evidence_sealed")
    assert [e["data"]["phase"] for e in sealed] == ["initial", "after-window"]
    assert [e["data"]["items"] for e in sealed] == [2, 3]
    assert len({e["data"]["bundle_id"] for e in sealed}) == 2
    # Verified as a reviewer would: the integrity key from configuration, the chain's head from the broker.
    keyring = Keyring({"it": INTEGRITY_KEY})
    anchors = await read_anchors(pipeline.broker.bootstrap, pipeline.topics.anchors, keyring)
    store = EvidenceStore(tmp_path / "evidence", keyring=keyring)
    report = store.verify(incident_id, key, anchors=anchors)
    assert report.status == "intact", report.to_json()
    assert report.anchor.state.value == "matches", report.to_json()
    assert len(report.bundles) == 2
    second = open_bundle(store.load_bundle(incident_id, sealed[1]["data"]["bundle_id"]), key)
    assert {i.event_id for i in second} == {e["event_id"] for e in in_scope}


async def _an_open_instruction_blocks_closure_until_done(pipeline: Pipeline, scene: Scene, incident_id: str) -> None:
    # The contractor's systems report the containment done (被害拡大の防止 is on record), then closure is asked.
    commands = values(
        await pipeline.read(pipeline.topics.containment_commands, lambda r: len(by_effect_id(r, incident_id)) >= 2)
    )
    results = [
        scene.filed("containment_result", incident_id, data={"command_id": c["command_id"], "result": "done"})
        for c in commands
        if c["incident_id"] == incident_id
    ]
    await scene.file(*results, scene.filed("resolution", incident_id))
    refused = await wait_state(pipeline, incident_id, lambda s: entries(s, "closure_refused"), "a refused closure")
    assert "submit-access-log" in entries(refused, "closure_refused")[0]["data"]["open_tasks"]
    assert refused["run"]["state"] == "responding"
    open_tasks = [t["task_id"] for t in refused["run"]["tasks"] if t["status"] == "open"]
    await scene.file(
        *[scene.filed("update", incident_id, data={"task_id": task_id, "done": True}) for task_id in open_tasks],
        scene.filed("resolution", incident_id),
    )
    closed = await wait_state(pipeline, incident_id, lambda s: s["run"]["state"] == "closed", "closure")
    assert closed["run"]["outcome"] == "resolved"
    assert task(closed, "submit-access-log")["done_at"] is not None  # type: ignore[index]


async def _koganei_complaint_is_reported_at_once(pipeline: Pipeline, scene: Scene) -> None:
    discovered = now() - timedelta(minutes=10)
    complaint = scene.filed("complaint", discovered_at=discovered.isoformat(), summary="a resident complained")
    await scene.file(complaint)
    incident = await opened_incident(pipeline, lambda v: complaint["event_id"] in v["event_ids"])
    notes = await notifications(
        pipeline, incident["incident_id"], lambda n: any(e.get("kind") == "complaint_report" for e in n)
    )
    report = next(n for n in notes if n.get("kind") == "complaint_report")
    # At once: due an hour (直ちに) from when the complaint was discovered, while triage is still open.
    assert report["audience"] == "city"
    assert ts(report["due"]) == discovered + timedelta(hours=1)
    state = await wait_state(pipeline, incident["incident_id"], lambda s: s["run"]["state"] == "triage", "triage")
    assert step(state, "complaint_progress")["status"] == "active"
    assert "summary" not in state["incident"], "free text stays out of the state topic"
    # A filed incident's evidence is its own event, read from incident-events.
    state = await wait_state(pipeline, incident["incident_id"], lambda s: entries(s, "evidence_sealed"), "evidence")
    assert entries(state, "evidence_sealed")[0]["data"]["items"] == 1


async def _toyota_outage_filed_is_reported_at_once(pipeline: Pipeline, scene: Scene) -> None:
    discovered = now() - timedelta(minutes=5)
    outage = scene.filed("system_outage", discovered_at=discovered.isoformat(), location="toyota-ops")
    await scene.file(outage)
    incident = await opened_incident(pipeline, lambda v: outage["event_id"] in v["event_ids"])
    notes = await notifications(
        pipeline, incident["incident_id"], lambda n: any(e.get("kind") == "first_report" for e in n)
    )
    report = next(n for n in notes if n.get("kind") == "first_report")
    assert ts(report["due"]) == discovered + timedelta(hours=1)
    assert report["possible"] is False, "a filed outage is a known incident, not a possible one"
    state = await wait_state(pipeline, incident["incident_id"], lambda s: s["run"]["state"] == "responding", "a run")
    assert step(state, "outage_containment")["status"] != "waiting", "Toyota's outage step applies"
    assert step(state, "triage")["status"] == "skipped"


# -- restarts ------------------------------------------------------------------------------------------


async def _metric(w: KinkyuProcess, name: str) -> float:
    _, body = w.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def test_a_run_resumes_after_sigterm_and_sigkill_and_each_deadline_fires_once(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    contract = "okayama-2026-003"
    fast_contracts(pipeline, tmp_path)
    env, key = evidence_env(tmp_path)
    scene = Scene(pipeline, contract)
    w1 = pipeline.worker(**env).start()
    w1.wait_healthy()
    await scene.log(scene.access(INTRUDER, now()))
    incident_id = (await opened_incident(pipeline, lambda v: v["actor"] == INTRUDER))["incident_id"]
    await scene.file(
        scene.filed("update", incident_id, data={"triage": "confirm", "reason": "unregistered-account"}),
        scene.filed("city_instruction", incident_id, data={"task_id": "task-a", "within": "6s"}),
    )
    await wait_state(pipeline, incident_id, lambda s: task(s, "task-a") is not None, "task A")

    # SIGTERM with task A pending: the next worker fires its deadline.
    assert w1.stop() == 0
    w2 = pipeline.worker(**env).start()
    w2.wait_healthy()
    await notifications(pipeline, incident_id, lambda n: escalated(n, "task-a"), timeout=40)
    await scene.file(scene.filed("city_instruction", incident_id, data={"task_id": "task-b", "within": "4s"}))
    await wait_state(pipeline, incident_id, lambda s: task(s, "task-b") is not None, "task B")

    # SIGKILL with task B pending: it falls due while no worker runs; the restarted one fires it once.
    w2.kill()
    started = time.monotonic()
    w3 = pipeline.worker(**env).start()
    w3.wait_healthy()
    notes = await notifications(pipeline, incident_id, lambda n: escalated(n, "task-b"), timeout=60)
    fired_after = time.monotonic() - started
    await scene.file(scene.filed("acknowledgement", incident_id, data={"step": "first_report"}))
    state = await wait_state(
        pipeline, incident_id, lambda s: step(s, "first_report")["status"] == "done", "the run going on"
    )
    await asyncio.sleep(1.5)  # three more timer passes: a deadline must not fire again
    notes = await notifications(pipeline, incident_id, lambda n: True)

    escalations = sorted((n["task_id"], n["effect_id"]) for n in notes if n["effect"] == "escalate")
    assert escalations == [("task-a", f"{incident_id}/escalate/1"), ("task-b", f"{incident_id}/escalate/2")]
    state = latest(await pipeline.read(pipeline.topics.incident_state, lambda r: True), incident_id) or state
    missed = [e["data"].get("task_id") for e in entries(state, "deadline_missed")]
    assert missed == ["task-a", "task-b"], describe(state)
    # Seals are carried out beside the agent and come back as ticks: wait for the initial one's result.
    state = await wait_state(pipeline, incident_id, lambda s: "initial" in seals(s)[0], "the initial seal", timeout=60)
    sealed, pending = seals(state)
    assert pending == ["after-window"] or "after-window" in sealed, "the after-window seal is scheduled (or done)"
    keyring = Keyring({"it": INTEGRITY_KEY})
    anchors = await read_anchors(pipeline.broker.bootstrap, pipeline.topics.anchors, keyring)
    assert EvidenceStore(tmp_path / "evidence", keyring=keyring).verify(incident_id, key, anchors=anchors).ok
    assert fired_after < 45
    # For the record (shown with a failure, or with --log-level=INFO): restart time, how often the table was behind.
    rebuilt = await _metric(w3, "kinkyu_playbook_runs_rebuilt_total")
    log.info(
        "deadline fired %.1fs after the SIGKILL restart; runs rebuilt from incident-state: %d", fired_after, rebuilt
    )


async def test_a_worker_whose_table_is_empty_resumes_every_run_from_incident_state(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # The worst case of a changelog restore that misses records: a worker under a new group has no
    # table at all, and re-reads every input and every incidents record from the start.
    fast_contracts(pipeline, tmp_path)
    env, _ = evidence_env(tmp_path)
    scene = Scene(pipeline, "chiba-2026-021")
    w1 = pipeline.worker(**env).start()
    w1.wait_healthy()
    await scene.log(scene.access(INTRUDER, now()))
    incident_id = (await opened_incident(pipeline, lambda v: v["actor"] == INTRUDER))["incident_id"]
    await scene.file(
        scene.filed("update", incident_id, data={"triage": "confirm", "reason": "unregistered-account"}),
        scene.filed("city_instruction", incident_id, data={"task_id": "task-a", "within": "8s"}),
    )
    before = await wait_state(pipeline, incident_id, lambda s: task(s, "task-a") is not None, "task A")
    assert w1.stop() == 0

    w2 = pipeline.worker(**env, KINKYU_GROUP=f"fresh-{pipeline.prefix}").start()
    w2.wait_healthy()
    notes = await notifications(pipeline, incident_id, lambda n: escalated(n, "task-a"))
    after = await wait_state(pipeline, incident_id, lambda s: (task(s, "task-a") or {}).get("missed"), "A missed")

    assert after["run"]["opened_at"] == before["run"]["opened_at"], "the run resumed, it did not start again"
    assert len(entries(after, "playbook_started")) == 1
    assert len(entries(after, "deadline_missed")) == 1
    assert [n["task_id"] for n in notes if n["effect"] == "escalate"] == ["task-a"]
    assert await _metric(w2, "kinkyu_playbook_runs_rebuilt_total") >= 1
