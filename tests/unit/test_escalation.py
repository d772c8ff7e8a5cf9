"""Escalation chains: contacts in the profile's order, one per acknowledgement timeout, then the 作業責任者."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from helpers import sample_profile

from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import (
    EscalationError,
    EscalationState,
    Send,
    chain_for,
    city_ladder,
    contact_for,
    contact_ref,
    parse_ref,
    responsible,
)
from kinkyu.core.model import JST

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=JST)
TIMEOUT = timedelta(minutes=30)  # the default response.ack_timeout
INC = "INC-20261121-0001"
CHAIN = f"{INC}/first_report/first_report/1"


def profile(**changes: Any) -> ContractProfile:
    base = sample_profile()
    return ContractProfile.model_validate({**base.model_dump(), **changes}) if changes else base


def contacts(*roles: str, email: bool = True) -> list[dict[str, Any]]:
    return [
        {"name": f"person {i}", "role": role, "email": f"p{i}@example.jp" if email else None}
        for i, role in enumerate(roles)
    ]


def city_chain(p: ContractProfile | None = None, **kw: Any) -> EscalationState:
    return chain_for(CHAIN, INC, profile=p or profile(), audience="city", now=T0, **kw)


def test_the_sample_city_chain_walks_the_contacts_in_order_then_alerts_the_responsible_manager() -> None:
    chain = city_chain()
    assert chain.ladder == ("city:0", "city:1")
    assert chain.final == ("contractor:0",)
    assert chain.ack_timeout == TIMEOUT

    assert chain.next_step(T0) == [Send(CHAIN, INC, "city:0", "notify", 0)]
    assert chain.next_step(T0 + TIMEOUT - timedelta(seconds=1)) == []
    assert chain.next_due() == T0 + TIMEOUT

    assert chain.next_step(T0 + TIMEOUT) == [Send(CHAIN, INC, "city:1", "escalated", 1, ("city:0",))]
    assert chain.next_step(T0 + TIMEOUT + timedelta(minutes=29)) == []

    final = chain.next_step(T0 + 2 * TIMEOUT)
    assert final == [Send(CHAIN, INC, "contractor:0", "unanswered", 2, ("city:0", "city:1"))]
    assert chain.exhausted
    assert not chain.active
    assert chain.next_due() is None
    assert chain.next_step(T0 + timedelta(days=1)) == []
    assert chain.told == ("city:0", "city:1", "contractor:0")


def test_an_acknowledgement_stops_the_chain() -> None:
    chain = city_chain()
    chain.next_step(T0)
    assert chain.acknowledge("city:0", T0 + timedelta(minutes=5))
    assert not chain.active
    assert chain.next_due() is None
    assert chain.next_step(T0 + timedelta(hours=5)) == []
    assert chain.acknowledged_by == "city:0"
    assert not chain.acknowledge("city:1", T0 + timedelta(minutes=6))  # the first acknowledgement stands
    assert chain.acknowledged_by == "city:0"


def test_acknowledged_by_the_second_contact_no_alert_follows() -> None:
    chain = city_chain()
    chain.next_step(T0)
    chain.next_step(T0 + TIMEOUT)
    chain.acknowledge("city:1", T0 + TIMEOUT + timedelta(minutes=1))
    assert chain.next_step(T0 + 3 * TIMEOUT) == []
    assert chain.told == ("city:0", "city:1")


def test_a_chain_resumed_late_tells_one_contact_per_timeout() -> None:
    chain = city_chain()
    chain.next_step(T0)
    late = T0 + timedelta(hours=10)  # the worker was down
    assert [s.recipient for s in chain.next_step(late)] == ["city:1"]
    assert chain.next_step(late) == []
    assert chain.next_due() == late + TIMEOUT


def test_the_ack_timeout_is_the_contracts() -> None:
    p = profile(response={"ack_timeout": "10m"})
    chain = city_chain(p)
    chain.next_step(T0)
    assert chain.next_due() == T0 + timedelta(minutes=10)


def test_json_round_trip_mid_chain_continues_identically() -> None:
    original = city_chain(payload={"notification": {"kind": "first_report"}})
    original.next_step(T0)
    restored = EscalationState.from_json(original.to_json())
    assert restored == original
    for minutes in (10, 30, 45, 60, 90):
        now = T0 + timedelta(minutes=minutes)
        assert restored.next_step(now) == original.next_step(now)
    assert restored.to_json() == original.to_json()
    assert restored.payload == {"notification": {"kind": "first_report"}}


def test_chains_are_deterministic() -> None:
    def play() -> list[Send]:
        chain = city_chain()
        out: list[Send] = []
        for minutes in range(0, 120, 7):
            out += chain.next_step(T0 + timedelta(minutes=minutes))
        return out

    assert play() == play()


def test_contacts_without_an_address_are_skipped_keeping_their_positions() -> None:
    p = profile(
        city={
            "name": "小金井市",
            "contacts": [
                {"name": "a", "role": "担当"},
                {"name": "b", "role": "課長", "email": "b@city.example.jp"},
                {"name": "c", "role": "部長", "email": "c@city.example.jp"},
            ],
        }
    )
    assert city_ladder(p) == ("city:1", "city:2")
    assert contact_for(p, "city:2") is not None
    assert contact_for(p, "city:9") is None


def test_the_responsible_manager_is_preferred_else_every_contractor_contact() -> None:
    p = profile(contractor_contacts=contacts("営業", "作業責任者", "作業従事者"))
    assert responsible(p) == ("contractor:1",)
    p = profile(contractor_contacts=contacts("営業", "作業従事者"))
    assert responsible(p) == ("contractor:0", "contractor:1")
    p = profile(contractor_contacts=[])
    assert responsible(p) == ()


def test_without_a_contractor_contact_the_chain_ends_after_the_city() -> None:
    chain = city_chain(profile(contractor_contacts=[]))
    chain.next_step(T0)
    chain.next_step(T0 + TIMEOUT)
    assert chain.exhausted
    assert chain.stages == 2


def test_a_city_without_reachable_contacts_alerts_the_responsible_manager_at_once() -> None:
    p = profile(city={"name": "小金井市", "contacts": contacts("担当", email=False)})
    chain = city_chain(p)
    assert chain.next_step(T0) == [Send(CHAIN, INC, "contractor:0", "unanswered", 0, ())]


def test_skip_first_starts_at_the_next_contact_up_unless_there_is_only_one() -> None:
    assert city_chain(skip_first=True).ladder == ("city:1",)
    p = profile(city={"name": "小金井市", "contacts": contacts("担当")})
    assert city_chain(p, skip_first=True).ladder == ("city:0",)


def test_a_contractor_chain_has_no_final_alert() -> None:
    p = profile(contractor_contacts=contacts("作業責任者", "作業従事者"))
    chain = chain_for("c1", INC, profile=p, audience="contractor", now=T0)
    assert chain.ladder == ("contractor:0", "contractor:1")
    assert chain.final == ()
    assert [s.purpose for s in chain.next_step(T0)] == ["notify"]
    assert [s.purpose for s in chain.next_step(T0 + TIMEOUT)] == ["escalated"]
    assert chain.exhausted


def test_bump_escalates_now_once() -> None:
    chain = city_chain()
    assert not chain.bump(T0)  # nothing told yet: the first stage is due anyway
    chain.next_step(T0)
    assert chain.bump(T0 + timedelta(minutes=5))
    assert chain.next_due() == T0 + timedelta(minutes=5)
    assert [s.recipient for s in chain.next_step(T0 + timedelta(minutes=5))] == ["city:1"]
    assert not chain.bump(T0 + timedelta(minutes=6))  # already past its first contact
    assert chain.next_due() == T0 + timedelta(minutes=35)


def test_bump_survives_a_round_trip() -> None:
    chain = city_chain()
    chain.next_step(T0)
    chain.bump(T0 + timedelta(minutes=5))
    restored = EscalationState.from_json(chain.to_json())
    assert restored.next_due() == T0 + timedelta(minutes=5)


def test_references_round_trip_and_bad_ones_are_refused() -> None:
    assert parse_ref(contact_ref("city", 3)) == ("city", 3)
    assert parse_ref("contractor:0") == ("contractor", 0)
    for bad in ("city", "city:x", "someone:1", "tanto@city.example.jp", "city:-1"):
        with pytest.raises(EscalationError):
            parse_ref(bad)
    with pytest.raises(EscalationError):
        EscalationState.start("c", INC, ladder=("a@b.jp",), ack_timeout=TIMEOUT, now=T0)


def test_malformed_json_and_bad_arguments_are_refused() -> None:
    with pytest.raises(EscalationError, match="not an escalation chain"):
        EscalationState.from_json({"chain_id": "c"})
    with pytest.raises(EscalationError, match="aware"):
        city_chain().next_step(datetime(2026, 11, 21, 10, 0))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(EscalationError, match="positive"):
        EscalationState.start("c", INC, ladder=("city:0",), ack_timeout=timedelta(0), now=T0)
