"""The incident desk in a real browser: the contractor files, the city answers, the reviewer reads; refusals.

One stack (broker, SMTP server, worker, console) serves the module; each test
opens its own browser contexts (one per person). The incident every test
looks at is filed once, through the filing form, by the contractor
(``filed``): a misdelivery on koganei-2026-017, which the playbook reports to
the city at once. Tests that change it (acknowledge, instruct, record recovery)
look only for what they added, so they pass in any order; they are ordered so that those
waiting on the stream (deliveries, acknowledgements, tasks, sealed evidence)
run last, when it has mostly caught up.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser.harness import Desk, Role, Stack, read_topic, screenshot
from kinkyu.notifiers.smtp_sink import ReceivedMessage
from kinkyu.streams.settings import Topics

pytestmark = pytest.mark.browser

KOGANEI = "koganei-2026-017"
TOYOTA = "toyota-2026-012"
NO_SUCH_INCIDENT = "INC-20000101-9999"
CITY_FIRST_CONTACT = "tanto-a@city.example.jp"
JST = timezone(timedelta(hours=9))
# What the contractor writes in `details`: personal information, evidence only; never in a mail.
DETAILS_PERSONAL = ("山田太郎", "東京都小金井市本町1-2-3", "042-000-1234")
DETAILS = (
    f"誤配送先の住民: {DETAILS_PERSONAL[0]} 様（{DETAILS_PERSONAL[1]}）、電話 {DETAILS_PERSONAL[2]}。"
    "宛名ラベルの取り違え。"
)
SUMMARY = "通知書3件を誤った宛先に郵送"
WRITE_FORMS = ("triage", "containment", "update", "acknowledge", "receipt", "instruct", "request-report")
REFUSED_TEXT = re.compile("権限がありません|You do not have access")


@dataclass(frozen=True)
class Filed:
    """The incident the contractor filed through the form."""

    event_id: str
    incident_id: str
    filed_href: str

    @property
    def path(self) -> str:
        return f"/incidents/{self.incident_id}"


def local_minute(when: datetime) -> str:
    """A datetime-local input's value, in Japan time."""
    return when.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def csrf_token(page: Page) -> str:
    return page.locator("form#logout input[name=csrf_token]").input_value()


REDIRECT = 303  # what post_from_page reports for any redirect: fetch hides a redirect's status from the page


def post_from_page(page: Page, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST a form body with the page's own fetch (its cookies, its origin), redirects not followed."""
    result: list[Any] = page.evaluate(
        """async ([path, fields]) => {
            const r = await fetch(path, {method: "POST", body: new URLSearchParams(fields), redirect: "manual"});
            return r.type === "opaqueredirect" ? [0, ""] : [r.status, await r.text()];
        }""",
        [path, fields],
    )
    return int(result[0]) or REDIRECT, str(result[1])


def status_of(page: Page, path: str) -> int:
    """The HTTP status of the page ``path`` navigates to (after redirects)."""
    response = page.goto(path)
    assert response is not None, f"{path}: no HTTP response"
    return response.status


def mark_page(page: Page) -> None:
    """Set a flag in the page's JavaScript state: it survives live updates, not a reload."""
    page.evaluate("window.__kinkyuTestMark = 'still the same page'")


def same_page(page: Page) -> bool:
    return bool(page.evaluate("window.__kinkyuTestMark === 'still the same page'"))


def entries(page: Page, kind: str) -> Locator:
    return page.locator(f"#timeline li[data-kind='{kind}']")


def expect_more(locator: Locator, than: int, timeout: float = 30_000) -> None:
    """Wait until ``locator`` matches more than ``than`` elements (the live timeline only grows)."""
    expect(locator.nth(than)).to_be_attached(timeout=timeout)


def mail_text(msg: ReceivedMessage) -> str:
    """Every text part of a message, decoded, with its headers."""
    parsed = message_from_bytes(msg.raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = [str(value) for value in parsed.values()]
    parts += [str(part.get_content()) for part in parsed.walk() if part.get_content_maintype() == "text"]
    return "\n".join(parts)


def first_report_mail(stack: Stack, filed: Filed) -> ReceivedMessage:
    (first,) = stack.mail.wait_for(
        lambda m: m.recipients == (CITY_FIRST_CONTACT,) and "第一報" in m.subject and filed.incident_id in mail_text(m),
        "with the first report to the city",
    )
    return first


# -- the incident, filed once through the form ---------------------------------------------------------------


def file_incident(page: Page, *, kind: str, summary: str, details: str, screenshots: bool = False) -> Filed:
    """File an incident on koganei's contract through form#file-incident; the incident once the stream opened it."""
    page.goto("/file")
    if screenshots:
        screenshot(page, "file.ja")
    form = page.locator("form#file-incident")
    now = datetime.now(UTC)
    form.locator("select[name=contract_id]").select_option(KOGANEI)
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[name=summary]").fill(summary)
    form.locator("input[name=occurred_at]").fill(local_minute(now - timedelta(hours=3)))
    form.locator("input[name=discovered_at]").fill(local_minute(now - timedelta(minutes=30)))
    form.locator("input[name=location]").fill("アクメ印刷センター（府中市）")
    form.locator("input[name=records_affected]").fill("3")
    for item in ("name", "address"):
        form.locator(f"input[name=data_items][value={item}]").check()
    form.locator("textarea[name=details]").fill(details)
    form.locator("[type=submit]").click()

    page.wait_for_url(re.compile(r"/filed/[0-9a-f-]{36}$"))
    event_id = page.url.rsplit("/", 1)[1]
    mark_page(page)
    link = page.locator("a#filed-incident")
    expect(link, "the filed page links to the incident once the stream opened it").to_be_visible(timeout=45_000)
    assert same_page(page), "the link appeared on the page itself (it polls), not by a reload"
    href = link.get_attribute("href") or ""
    if screenshots:
        screenshot(page, "filed.ja")
    match = re.search(r"/incidents/([A-Za-z0-9_-]+)$", href)
    assert match, f"a#filed-incident points at {href!r}, not /incidents/<id>"
    return Filed(event_id, match.group(1), href)


@pytest.fixture(scope="module")
def filed(browser: Browser, stack: Stack) -> Iterator[Filed]:
    desk = Desk(browser, stack)
    try:
        page = desk.login("contractor", form=True)
        yield file_incident(page, kind="misdelivery", summary=SUMMARY, details=DETAILS, screenshots=True)
    finally:
        desk.close()


# -- what the filing made (no waiting on the stream) ---------------------------------------------------------


def test_the_filing_form_sends_one_incident_event_and_the_filed_page_links_to_its_incident(
    filed: Filed, stack: Stack
) -> None:
    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r.get("event_id") == filed.event_id]

    (event,) = mine(read_topic(stack, Topics(stack.prefix).incident_events, lambda rs: bool(mine(rs))))
    assert event["contract_id"] == KOGANEI
    assert event["kind"] == "misdelivery"
    assert event["incident_id"] is None
    assert event["reported_by"]["id"] == "acme-security"
    assert event["summary"] == SUMMARY
    assert event["records_affected"] == 3
    assert sorted(event["data_items"]) == ["address", "name"]
    assert event["details"] == DETAILS, "details travel on the stream as evidence"
    assert datetime.fromisoformat(event["discovered_at"]) > datetime.fromisoformat(event["occurred_at"])
    assert filed.filed_href.endswith(filed.path)


def test_the_contractor_sees_the_incident_page_without_the_details_until_asked(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor")
    page.goto(filed.path)
    for section in ("summary", "ppc", "deadlines", "timeline", "tasks", "evidence", "reports"):
        expect(page.locator(f"#{section}")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text(filed.incident_id)
    expect(page.locator("#summary")).to_contain_text(KOGANEI)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#deadlines time[datetime]").first, "deadlines count down").to_be_visible()
    assert DETAILS_PERSONAL[0] not in page.content(), "details are not on the incident page by default"
    screenshot(page, "incident.ja")

    # The filing's free text is kept only in the sealed evidence; the audited details page reads it back.
    page.locator("a#show-details").click()
    page.wait_for_url(f"**{filed.path}/details")
    expect(page.locator("h1")).to_contain_text(filed.incident_id)
    expect(page.locator("main")).to_contain_text("アクメ印刷センター")
    sealed = page.locator('#filed[data-status="shown"]')
    deadline = time.monotonic() + 30  # the worker seals the filing moments after opening the incident
    while not sealed.count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(sealed).to_contain_text(DETAILS_PERSONAL[0])


def test_the_filed_incident_is_in_the_contractors_list_and_its_filters(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor")
    row = page.locator(f"table#incidents tr[data-incident-id='{filed.incident_id}']")
    expect(row).to_be_visible()
    expect(row.locator(f"a[href$='{filed.path}']")).to_be_visible()
    filters = page.locator("form#filters")
    for name in ("contract", "city", "state", "severity"):
        expect(filters.locator(f"select[name={name}]")).to_have_count(1)
    expect(filters.locator("input[type=checkbox][name=overdue]")).to_have_count(1)
    screenshot(page, "incidents.ja")

    # Through the form: the incident's own severity keeps it, another state hides it.
    severity = row.get_attribute("data-severity") or ""
    filters.locator("select[name=severity]").select_option(severity)
    filters.locator("select[name=contract]").select_option(KOGANEI)
    filters.locator("[type=submit]").click()
    page.wait_for_url(re.compile(rf"/incidents\?.*severity={severity}"))
    expect(row).to_be_visible()
    page.locator("form#filters select[name=state]").select_option("closed")
    page.locator("form#filters [type=submit]").click()
    page.wait_for_url(re.compile(r"/incidents\?.*state=closed"))
    expect(page.locator("table#incidents")).to_be_visible()
    expect(row).to_have_count(0)
    page.goto(f"/incidents?contract={TOYOTA}")
    expect(row).to_have_count(0)


def test_the_first_report_is_mailed_to_the_city_with_a_console_link_and_no_personal_data(
    filed: Filed, stack: Stack
) -> None:
    first = first_report_mail(stack, filed)
    text = mail_text(first)
    # The subject names the matter and the contract's title; the contract id is in a header, not the subject.
    assert first.subject.endswith("（住民記録システム運用保守業務委託）")
    assert f"X-Kinkyu-Contract: {KOGANEI}" in first.raw.decode("utf-8", "replace")
    assert f"{stack.url}/incidents/{filed.incident_id}" in text, "the mail points the city at the console"
    every_mail = "\n".join(mail_text(m) + m.raw.decode("utf-8", "replace") for m in stack.mail.sink.messages)
    for personal in DETAILS_PERSONAL:
        assert personal not in every_mail, "nothing from details goes into a mail"


# -- refusals ------------------------------------------------------------------------------------------------


def test_another_city_cannot_see_the_incident_nor_its_list_row(filed: Filed, desk: Desk) -> None:
    page = desk.login("city-other")
    expect(page.locator("table#incidents")).to_be_visible()
    expect(page.locator(f"tr[data-incident-id='{filed.incident_id}']")).to_have_count(0)
    contract = page.request.get(f"/contracts/{KOGANEI}", max_redirects=0)
    assert contract.status in {403, 404}, f"toyota-city GET koganei's contract page: {contract.status}"
    for path in (
        filed.path,
        f"{filed.path}/details",
        f"{filed.path}/evidence",
        f"{filed.path}/timeline.json",
        f"{filed.path}/reports/first.ja.pdf",
    ):
        response = page.request.get(path, max_redirects=0)
        assert response.status in {403, 404}, f"toyota-city GET {path}: {response.status}"
        # Refused exactly as an incident that does not exist is: the answer does not reveal it exists.
        unknown = page.request.get(path.replace(filed.incident_id, NO_SUCH_INCIDENT), max_redirects=0)
        assert response.status == unknown.status, f"toyota-city GET {path}: {response.status} vs {unknown.status}"
        assert response.text().replace(filed.incident_id, NO_SUCH_INCIDENT) == unknown.text()


def test_the_reviewer_sees_no_write_forms_and_a_direct_post_is_refused(filed: Filed, desk: Desk) -> None:
    page = desk.login("reviewer")
    page.goto(filed.path)
    expect(page.locator("#timeline")).to_be_visible()
    for form in WRITE_FORMS:
        expect(page.locator(f"form#{form}")).to_have_count(0)

    token = csrf_token(page)
    for path in (f"{filed.path}/acknowledge", f"{filed.path}/instruct", "/file"):
        status, body = post_from_page(page, path, {"csrf_token": token, "title": "x", "within": "24h"})
        assert status == 403, f"reviewer POST {path}: {status}"
        assert REFUSED_TEXT.search(body), f"reviewer POST {path}: the refusal page says why"
    assert status_of(page, "/file") == 403


def test_an_unauthenticated_visitor_is_sent_to_the_login_and_then_back(filed: Filed, desk: Desk, stack: Stack) -> None:
    page = desk.page()
    assert status_of(page, "/health") == 200
    response = page.request.get(filed.path, max_redirects=0)
    assert response.status == 303
    assert response.headers["location"] in {
        f"/login?next={filed.path}",
        f"/login?next=%2Fincidents%2F{filed.incident_id}",
    }
    for path in (
        "/",
        "/incidents",
        "/file",
        f"/contracts/{KOGANEI}",
        "/admin/audit",
        f"{filed.path}/details",
        f"{filed.path}/evidence",
        f"{filed.path}/timeline.json",
        f"{filed.path}/reports/first.ja.pdf",
        f"/filed/{filed.event_id}",
    ):
        answer = page.request.get(path, max_redirects=0)
        assert answer.status == 303, f"unauthenticated GET {path}: {answer.status}"
        assert answer.headers["location"].startswith("/login"), f"unauthenticated GET {path}: to {answer.headers}"
    status, _ = post_from_page(page, f"{filed.path}/acknowledge", {})
    assert status == 403, "an unauthenticated POST is refused"
    forged = page.request.get("/ack/not-a-signed-token", max_redirects=0)
    assert forged.status >= 400, f"an unsigned acknowledgement link: {forged.status}"

    page.goto(filed.path)
    page.wait_for_url(re.compile(r"/login\?next="))
    expect(page.locator("form#login input[name=csrf_token]")).to_have_count(1)
    screenshot(page, "login.ja")
    page.locator("input[name=username]").fill("koganei-city")
    page.locator("input[name=password]").fill("not-the-password")
    page.locator("form#login [type=submit]").click()
    expect(page.locator("[role=alert]")).to_be_visible()
    assert page.request.get("/incidents", max_redirects=0).status == 303, "a failed login opens no session"

    login = stack.logins["city"]
    page.locator("input[name=username]").fill(login.username)
    page.locator("input[name=password]").fill(login.password)
    page.locator("form#login [type=submit]").click()
    page.wait_for_url(f"**{filed.path}")
    cookie = next(c for c in page.context.cookies() if c["name"] == "kinkyu_session")
    assert cookie["httpOnly"]
    assert cookie["secure"]
    assert cookie["sameSite"] == "Strict"


def test_a_post_without_a_valid_csrf_token_is_refused(filed: Filed, desk: Desk) -> None:
    page = desk.login("city", fresh=True)  # it signs out at the end
    page.goto(filed.path)
    for fields in ({}, {"csrf_token": "not-the-token"}):
        status, _ = post_from_page(page, f"{filed.path}/acknowledge", fields)
        assert status == 403, f"acknowledge with {fields}: {status}"
        status, _ = post_from_page(page, "/logout", fields)
        assert status == 403, f"logout with {fields}: {status}"
    status, _ = post_from_page(page, "/logout", {"csrf_token": csrf_token(page)})
    assert status == REDIRECT, "the same POST with the session's token goes through"
    assert page.request.get("/incidents", max_redirects=0).status == 303, "signed out: back to the login"


# -- language, phone, contract page --------------------------------------------------------------------------


def test_the_language_switches_to_english_and_stays_for_the_session(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor", fresh=True)
    page.goto(filed.path)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.locator("#lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#timeline")).to_be_visible()
    screenshot(page, "incident.en")
    page.goto("/incidents")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")


def test_the_incident_page_fits_a_phone_without_sideways_scrolling(filed: Filed, desk: Desk) -> None:
    page = desk.login("city", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(filed.path)
    expect(page.locator("#timeline li").first).to_be_visible()
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide on a {widths[1]} px screen"
    screenshot(page, "incident.phone.ja")


def test_every_form_control_is_labelled(filed: Filed, desk: Desk) -> None:
    pages: list[tuple[Role, str]] = [
        ("contractor", "/file"),
        ("contractor", filed.path),
        ("city", filed.path),
        ("reviewer", "/incidents"),
    ]
    for role, path in pages:
        page = desk.login(role)
        page.goto(path)
        expect(page.locator("main form").first).to_be_attached()
        unlabelled = page.locator("form input:not([type=hidden]), form select, form textarea").evaluate_all(
            """controls => controls
                .filter(c => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                             && !c.getAttribute("aria-labelledby"))
                .map(c => `${c.closest("form").id || "?"}: ${c.name || c.type}`)"""
        )
        assert unlabelled == [], f"{role} {path}: controls without a label: {unlabelled}"


def test_the_login_works_from_the_keyboard_alone(desk: Desk, stack: Stack) -> None:
    page = desk.page()
    page.goto("/login")
    username = page.locator("form#login input[name=username]")
    for _ in range(12):  # the header's links come first
        page.keyboard.press("Tab")
        if username.evaluate("field => field === document.activeElement"):
            break
    expect(username, "Tab reaches the user name").to_be_focused()
    login = stack.logins["reviewer"]
    page.keyboard.type(login.username)
    page.keyboard.press("Tab")
    expect(page.locator("form#login input[name=password]")).to_be_focused()
    page.keyboard.type(login.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/incidents")
    expect(page.locator("table#incidents")).to_be_visible()


def test_the_contract_page_lists_its_clauses_contacts_and_playbook(desk: Desk) -> None:
    page = desk.login("city")
    page.goto(f"/contracts/{KOGANEI}")
    for section in ("clauses", "contacts", "playbook"):
        expect(page.locator(f"#{section}")).to_be_visible()
    expect(page.locator("#clauses")).to_contain_text("第19条")
    expect(page.locator("#contacts")).to_contain_text("中村 真理")
    screenshot(page, "contract.ja")


# -- what the stream adds: the timeline grows live -----------------------------------------------------------


def test_the_first_reports_delivery_shows_on_the_incident_timeline(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor")
    page.goto(filed.path)
    # The notifier's delivery result; the page polls timeline.json, so it appears even if it lands later.
    delivered = entries(page, "update").filter(has_text=re.compile("message_sent|送信"))
    expect(delivered.first).to_be_visible(timeout=30_000)


def test_the_mails_acknowledgement_link_opens_on_the_console_without_a_login_and_records_receipt(
    filed: Filed, desk: Desk, stack: Stack
) -> None:
    links = set(re.findall(rf"{re.escape(stack.url)}/ack/[A-Za-z0-9_.-]+", mail_text(first_report_mail(stack, filed))))
    assert len(links) == 1, f"one acknowledgement link, on the console: {links}"
    city = desk.login("city")
    city.goto(filed.path)
    before = entries(city, "acknowledgement").count()

    recipient = desk.page()  # opened from the mail: nobody is signed in
    recipient.goto(links.pop())
    expect(recipient.locator("body")).to_contain_text(filed.incident_id)
    recipient.locator("form [type=submit]").click()
    expect(recipient.locator("body")).to_contain_text("受領を記録いたしました")
    expect_more(entries(city, "acknowledgement"), than=before)


def test_the_city_official_acknowledges_receipt_and_the_timeline_shows_it(filed: Filed, desk: Desk) -> None:
    page = desk.login("city")
    page.goto(filed.path)
    before = entries(page, "acknowledgement").count()
    page.locator("form#acknowledge [type=submit]").click()
    page.wait_for_url(f"**{filed.path}")
    expect(page.locator(".flash, [role=status]").first).to_be_visible()
    expect_more(entries(page, "acknowledgement"), than=before)


def test_the_city_records_receipt_of_the_written_report_and_the_timeline_shows_it(filed: Filed, desk: Desk) -> None:
    # 小金井市 第19条: the written report is made when the city receives the 事故報告書 it downloaded here.
    page = desk.login("city")
    page.goto(filed.path)
    expect(page.locator("a[data-report='first.ja.pdf']")).to_be_visible()
    before = entries(page, "acknowledgement").count()
    page.locator("form#receipt [type=submit]").click()
    page.wait_for_url(f"**{filed.path}")
    expect_more(entries(page, "acknowledgement"), than=before)


def test_an_instruction_becomes_a_task_and_reaches_the_contractors_open_page_live(filed: Filed, desk: Desk) -> None:
    contractor = desk.login("contractor")
    contractor.goto(filed.path)
    expect(contractor.locator("#timeline li").first).to_be_visible()
    instructions_before = entries(contractor, "city_instruction").count()
    deliveries_before = entries(contractor, "update").count()
    mark_page(contractor)

    city = desk.login("city")
    city.goto(filed.path)
    form = city.locator("form#instruct")
    form.locator("input[name=title]").fill("submit-access-log")
    form.locator("input[name=within]").fill("24h")
    form.locator("[type=submit]").click()
    city.wait_for_url(f"**{filed.path}")
    expect_more(entries(city, "city_instruction"), than=instructions_before)

    # The contractor's page, never reloaded, grows the instruction and the task notice's delivery.
    expect_more(entries(contractor, "city_instruction"), than=instructions_before)
    expect_more(entries(contractor, "update"), than=deliveries_before)
    assert same_page(contractor), "the timeline grew in place, without a reload"

    # The task is in #tasks once the page is drawn again (both the city's and the contractor's).
    for page in (city, contractor):
        page.reload()
        expect(page.locator("#tasks")).to_contain_text("アクセス記録の提出")


def test_the_city_requests_a_written_report_and_it_becomes_a_task(filed: Filed, desk: Desk) -> None:
    page = desk.login("city")
    page.goto(filed.path)
    tasks_before = page.locator("#tasks tr[data-task-id]").count()
    opened_before = entries(page, "task_opened").count()
    page.locator("form#request-report [type=submit]").click()
    page.wait_for_url(f"**{filed.path}")
    expect_more(entries(page, "task_opened"), than=opened_before)
    page.reload()
    expect_more(page.locator("#tasks tr[data-task-id]"), than=tasks_before)


def test_the_contractor_records_recovery_done_and_its_note_stays_off_the_page(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor")
    page.goto(filed.path)
    before = entries(page, "task_done").count()
    form = page.locator("form#update")
    form.locator("select[name=task_id]").select_option("recovery")
    form.locator("textarea[name=note]").fill(f"{DETAILS_PERSONAL[0]} 様に回収済み")
    form.locator("input[name=done]").check()
    form.locator("[type=submit]").click()
    page.wait_for_url(f"**{filed.path}")
    expect_more(entries(page, "task_done"), than=before)
    # The Japanese page names the task by its title (復旧), not its id (issue #15).
    expect(entries(page, "task_done").filter(has_text="復旧").first).to_be_visible()
    page.reload()
    expect(page.locator("#tasks tr[data-task-id='recovery']")).to_have_attribute("data-status", "done")
    assert DETAILS_PERSONAL[0] not in page.content(), "the note is kept as evidence, not shown"


def test_a_complaint_waits_for_triage_and_the_contractor_dismisses_it_with_a_reason(filed: Filed, desk: Desk) -> None:
    page = desk.login("contractor")
    complaint = file_incident(page, kind="complaint", summary="住民からの苦情", details="苦情の申出者は記録票を参照")
    assert complaint.incident_id != filed.incident_id
    page.goto("/incidents")
    row = page.locator(f"tr[data-incident-id='{complaint.incident_id}']")
    expect(row).to_have_attribute("data-state", "triage")

    page.goto(complaint.path)
    form = page.locator("form#triage")
    form.locator("select[name=decision]").select_option("dismiss")
    form.locator("textarea[name=reason]").fill("false-positive")
    form.locator("[type=submit]").click()
    page.wait_for_url(f"**{complaint.path}")
    expect(entries(page, "dismissed").first).to_be_attached(timeout=30_000)
    # Not a breach; the complaint itself is still handled (its progress reports), so it leaves triage.
    page.goto("/incidents")
    expect(row).to_have_attribute("data-state", re.compile("^(responding|closed)$"))


# -- reviewer ------------------------------------------------------------------------------------------------


def test_the_reviewer_verifies_the_evidence_with_one_click(filed: Filed, desk: Desk) -> None:
    page = desk.login("reviewer")
    page.goto(filed.path)
    # The worker seals the incident's evidence when it opens; the live timeline says when.
    expect(entries(page, "evidence_sealed").first).to_be_attached(timeout=30_000)
    page.reload()
    expect(page.locator("#evidence tr[data-bundle-id]").first).to_be_visible()
    page.locator("form#verify-evidence [type=submit]").click()
    result = page.locator("#evidence-result")
    expect(result).to_be_visible()
    expect(result).to_have_attribute("data-status", "intact")


def test_the_reviewer_downloads_the_written_report_as_a_pdf(filed: Filed, desk: Desk, tmp_path: Path) -> None:
    page = desk.login("reviewer")
    page.goto(filed.path)
    links = page.locator("#reports a[data-report$='.pdf']")
    expect(links.first).to_be_visible()
    offered = [links.nth(i).get_attribute("data-report") for i in range(links.count())]
    wanted = next(
        (r for r in ("first.ja.pdf", "progress.ja.pdf", "final.ja.pdf") if r in offered), offered[0] if offered else ""
    )
    link = page.locator(f"#reports a[data-report='{wanted}']")
    expect(link).to_have_attribute("href", f"{filed.path}/reports/{wanted}")

    with page.expect_download() as download:
        link.click()
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert filed.incident_id in text
    for personal in DETAILS_PERSONAL:
        assert personal not in text, "the written report carries no details"


def test_the_reviewer_is_offered_every_report_kind_and_language(filed: Filed, desk: Desk) -> None:
    page = desk.login("reviewer")
    page.goto(filed.path)
    offered = page.locator("#reports a[data-report]").evaluate_all("links => links.map(a => a.dataset.report)")
    for kind in ("first", "progress", "final", "public"):
        for lang in ("ja", "en"):
            assert f"{kind}.{lang}.pdf" in offered, f"{kind}.{lang}.pdf is not offered: {offered}"
    english = page.request.get(f"{filed.path}/reports/public.en.html")
    assert english.status == 200
    assert filed.incident_id in english.text()
    assert re.search(r"<html[^>]* lang=\"en\"", english.text()), "the English report says it is English"


# -- admin ---------------------------------------------------------------------------------------------------


def test_the_admin_reads_the_audit_log_of_views_and_refusals(filed: Filed, desk: Desk) -> None:
    refused = desk.login("city-other")
    refused.request.get(filed.path)  # refused: out of toyota's scope, and audited as such
    viewer = desk.login("reviewer")
    viewer.goto(filed.path)
    viewer.request.get(f"{filed.path}/details")
    assert viewer.request.get("/admin/audit").status == 403, "only an admin reads the audit log"

    page = desk.login("admin")
    page.goto(f"/admin/audit?target={filed.incident_id}")
    expect(page.locator("#audit-chain")).to_have_attribute("data-status", "intact")
    rows = page.locator(f"table#audit tr[data-target='{filed.incident_id}']")
    for who, action, outcome in (
        ("reviewer", "incident.view", "allowed"),
        ("reviewer", "evidence.view", "allowed"),
        ("reviewer", "incident.details", "allowed"),
        ("toyota-city", "incident.view", "refused"),
    ):
        row = rows.and_(page.locator(f"[data-who='{who}'][data-action='{action}'][data-outcome='{outcome}']"))
        expect(row.first, f"an audit entry: {who} {action} {outcome}").to_be_attached()
    assert DETAILS_PERSONAL[0] not in page.content()
    screenshot(page, "audit.ja")
