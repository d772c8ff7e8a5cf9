"""Each contract keeps its own event time: one event's timestamp cannot move the clock of another (issue #12).

Windows expire, silent systems are reported and incidents leave
correlation by their own contract's clock. These tests feed the engine
directly (no wire bounds), as a replay without a clock or a checkpoint
written before the bounds would.
"""

from __future__ import annotations

from typing import Any

import orjson
from builders import CHIBA, KOGANEI, WORKDAY, access, at, epoch, quiet_read, sample_policies, with_value

from kinkyu.core.engine import Engine, Output
from kinkyu.core.model import AccessEvent

FAR_FUTURE = "9999-12-31T23:59:59+09:00"
LATENESS = 300.0


def _heartbeat(event_id: str, ts: str, *, contract_id: str = KOGANEI) -> AccessEvent:
    beat = with_value(quiet_read(event_id, ts, actor="svc-juki-portal", contract_id=contract_id), "action", "heartbeat")
    del beat["resource"]
    return access(beat)


def _failed_login(event_id: str, ts: str, *, contract_id: str = KOGANEI) -> AccessEvent:
    fail = with_value(quiet_read(event_id, ts, actor="u1042", contract_id=contract_id), "action", "login_failed")
    del fail["resource"]
    return access(with_value(fail, "outcome", "failure"))


def _attack(engine: Engine, *, contract_id: str = KOGANEI, start: str = "10:00") -> Output:
    """Five failed logins of one account within five minutes: the sample contracts' threshold."""
    out = Output()
    hour, minute = (int(x) for x in start.split(":"))
    for i in range(5):
        ts = at(WORKDAY, f"{hour:02d}:{minute + i:02d}")
        out.extend(engine.on_access(_failed_login(f"lf-{contract_id}-{i}", ts, contract_id=contract_id)))
    return out


def _rules(out: Output) -> set[str]:
    return {f.rule for f in out.findings}


def _engine() -> Engine:
    return Engine(sample_policies(), lateness=LATENESS)


def test_a_far_future_event_on_one_contract_leaves_a_real_time_credential_attack_on_another_detected() -> None:
    engine = _engine()  # one engine: the two contracts share a partition
    engine.on_access(_heartbeat("hb-chiba", FAR_FUTURE, contract_id=CHIBA))

    out = _attack(engine, contract_id=KOGANEI)

    assert "credential-attack" in _rules(out)
    assert [i.contract_id for i in out.incidents if "credential-attack" in i.rules] == [KOGANEI]


def test_a_far_future_event_on_one_contract_leaves_anothers_systems_watched_by_their_own_time() -> None:
    engine = _engine()
    engine.on_access(_heartbeat("hb-1", at(WORKDAY, "10:00")))

    meanwhile = engine.on_access(_heartbeat("hb-chiba", FAR_FUTURE, contract_id=CHIBA))
    # Half an hour later by Koganei's own time, its portal has been silent past the 5 m gap.
    later = engine.on_access(access(quiet_read("r1", at(WORKDAY, "10:30"), actor="u1042", system="file-gateway")))

    assert "system-outage" not in _rules(meanwhile)
    assert [(f.contract_id, f.system) for f in later.findings] == [(KOGANEI, "juki-portal")]


def test_each_contracts_clock_is_the_newest_time_of_its_own_events() -> None:
    engine = _engine()
    engine.on_access(_heartbeat("hb-1", at(WORKDAY, "10:05")))
    engine.on_access(_heartbeat("hb-2", at(WORKDAY, "10:01")))  # late: the clock stays
    engine.on_access(_heartbeat("hb-chiba", at(WORKDAY, "11:00"), contract_id=CHIBA))

    assert dict(engine.clocks) == {KOGANEI: epoch(at(WORKDAY, "10:05")), CHIBA: epoch(at(WORKDAY, "11:00"))}
    assert engine.clock("toyota-2026-012") == 0.0


def test_advance_each_looks_only_at_the_contracts_it_names() -> None:
    engine = _engine()
    engine.on_access(_heartbeat("hb-1", at(WORKDAY, "10:00")))
    late = epoch(at(WORKDAY, "10:30"))

    elsewhere = engine.advance_each({CHIBA: late})
    here = engine.advance_each({KOGANEI: late})

    assert "system-outage" not in _rules(elsewhere)
    assert _rules(here) == {"system-outage"}


def test_newest_is_what_the_contracts_events_said_even_after_advance_moved_its_clock() -> None:
    engine = _engine()
    engine.on_access(_heartbeat("hb-1", at(WORKDAY, "10:00")))

    engine.advance_each({KOGANEI: epoch(at(WORKDAY, "10:30"))})

    assert engine.clock(KOGANEI) == epoch(at(WORKDAY, "10:30"))
    assert engine.newest[KOGANEI] == epoch(at(WORKDAY, "10:00"))


# -- checkpoints ----------------------------------------------------------------------------------------


def _as_before_per_contract_clocks(snapshot: dict[str, Any], watermark: float) -> dict[str, Any]:
    """The snapshot as the release before per-contract clocks wrote it: one watermark, one window horizon."""
    old: dict[str, Any] = orjson.loads(orjson.dumps(snapshot))
    del old["clocks"], old["newest"]
    old["watermark"] = watermark
    for windows in (old["rules"]["bulk-export"], *old["rules"]["credential-attack"].values()):
        del windows["horizons"]
        windows["expired_to"] = watermark - LATENESS
    return old


def test_a_checkpoint_with_one_watermark_restores_it_as_every_contracts_clock() -> None:
    written = _engine()
    written.on_access(_heartbeat("hb-1", at(WORKDAY, "10:00")))
    old = _as_before_per_contract_clocks(written.snapshot(), epoch(at(WORKDAY, "10:00")))

    restored = _engine()
    restored.restore(old)

    assert set(restored.clocks.values()) == {epoch(at(WORKDAY, "10:00"))}
    assert set(restored.clocks) == set(sample_policies())


def test_a_checkpoint_a_far_future_event_poisoned_is_pulled_back_to_the_clock_it_is_restored_under() -> None:
    written = _engine()
    written.on_access(_heartbeat("hb-chiba", FAR_FUTURE, contract_id=CHIBA))
    poisoned = _as_before_per_contract_clocks(written.snapshot(), epoch(FAR_FUTURE))

    restored = _engine()
    restored.restore(poisoned, not_after=epoch(at(WORKDAY, "09:55")))
    out = _attack(restored, contract_id=KOGANEI)

    assert "credential-attack" in _rules(out)
    assert max(restored.clocks.values()) <= epoch(at(WORKDAY, "10:04"))


def test_a_restored_engine_keeps_each_contracts_clock() -> None:
    written = _engine()
    written.on_access(_heartbeat("hb-1", at(WORKDAY, "10:00")))
    written.on_access(_heartbeat("hb-chiba", at(WORKDAY, "11:00"), contract_id=CHIBA))

    restored = _engine()
    restored.restore(orjson.loads(orjson.dumps(written.snapshot())))

    assert restored.clocks == written.clocks
    assert restored.newest == written.newest
    assert written.snapshot()["watermark"] == epoch(at(WORKDAY, "11:00")), "a release before clocks reads this"
