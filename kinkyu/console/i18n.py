"""The console's words: Japanese first, English available (``?lang=en``). Pure.

:func:`t` looks a key up and fills ``{placeholders}``; a missing key shows as
the key itself (visible in review, never an exception on a live page).
Category labels (kinds, items, states, severities) come from the tables the
reports use, so the console and the written report name things alike.
"""

from __future__ import annotations

from typing import Literal

from kinkyu.core.legal.labels import ITEM_LABELS, KIND_LABELS
from kinkyu.reports.labels import SEVERITY_LABELS, STATE_LABELS, TRIAGE_LABELS

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("Kinkyu 事故対応デスク", "Kinkyu incident desk"),
    "nav.skip": ("本文へ移動", "Skip to main content"),
    "nav.incidents": ("インシデント一覧", "Incidents"),
    "nav.file": ("インシデントを届け出る", "File an incident"),
    "nav.audit": ("監査ログ", "Audit log"),
    "nav.logout": ("ログアウト", "Log out"),
    "nav.lang": ("English", "日本語"),
    "nav.signed_in": ("{name}（{role}）", "{name} ({role})"),
    "role.contractor": ("受託者セキュリティ担当", "contractor security team"),
    "role.city": ("委託元（自治体）の担当者", "city official"),
    "role.reviewer": ("監査担当（閲覧のみ）", "reviewer (read-only)"),
    "role.admin": ("管理者", "administrator"),
    # login
    "login.title": ("ログイン", "Log in"),
    "login.username": ("ユーザー名", "Username"),
    "login.password": ("パスワード", "Password"),
    "login.submit": ("ログイン", "Log in"),
    "login.failed": ("ユーザー名またはパスワードが正しくありません。", "The username or password is not correct."),
    "login.limited": (
        "ログインの失敗が続いたため、しばらく受け付けません。{minutes}分後にもう一度お試しください。",
        "Too many failed logins. Please try again in {minutes} minutes.",
    ),
    "login.expired": (
        "フォームの有効期限が切れました。もう一度ログインしてください。",
        "The form expired. Please log in again.",
    ),
    # errors
    "error.forbidden.title": ("権限がありません", "You do not have access"),
    "error.forbidden.body": (
        "この操作またはページは、あなたの役割では利用できません。必要な場合は管理者に連絡してください。",
        "Your role does not allow this page or action. Ask an administrator if you need it.",
    ),
    "error.csrf.title": ("フォームを受け付けられません", "The form cannot be accepted"),
    "error.csrf.body": (
        "フォームの確認トークンが無効です。ページを再読み込みしてから、もう一度送信してください。",
        "The form's security token is not valid. Reload the page and submit again.",
    ),
    "error.notfound.title": ("見つかりません", "Not found"),
    "error.notfound.body": (
        "このページはありません。一覧から選び直してください。",
        "There is no such page. Please choose again from the list.",
    ),
    "error.broker.title": ("送信できませんでした", "Not sent"),
    "error.broker.body": (
        (
            "イベント基盤（ブローカー）に接続できず、入力内容は記録されていません。下のフォームに入力内容が"
            "残っています。しばらくしてからもう一度送信してください。急ぎの場合は、委託元（自治体）の担当者に電話で報告してください。"
        ),
        (
            "The event broker could not be reached, so nothing was recorded. Your input is kept in the form "
            "below: please submit it again in a few minutes. If it is urgent, report to the city by telephone."
        ),
    ),
    "error.store.title": ("インシデントを読み込めません", "The incident cannot be read"),
    "error.store.body": (
        "インシデントの記録を読み込めませんでした。管理者に連絡してください（ログに詳細があります）。",
        "The incident's record could not be read. Please tell an administrator (the log has the details).",
    ),
    "error.audit.title": ("監査ログに記録できません", "The audit log cannot be written"),
    "error.audit.body": (
        "閲覧や操作は監査ログに記録する必要があるため、いまは表示・受付できません。管理者に連絡してください。",
        "Views and actions must be recorded in the audit log, which cannot be written now. Tell an administrator.",
    ),
    "error.form": ("入力を確認してください：{field}", "Please check the field: {field}"),
    "error.form.required": ("{field}は必須です。", "{field} is required."),
    "error.form.bad_choice": ("{field}の選択が正しくありません。", "{field}: choose one of the options."),
    "error.form.bad_time": ("{field}の日時が正しくありません。", "{field} is not a valid date and time."),
    "error.form.after_discovery": ("発生日時が発覚日時より後です。", "The time it happened is after its discovery."),
    "error.form.in_future": ("{field}が未来の日時です。", "{field} is in the future."),
    "error.form.too_early": (
        "{field}は2000年1月1日以降の日時を入力してください。",
        "{field} must be on or after 1 January 2000.",
    ),
    "error.form.not_a_number": (
        "{field}は0以上の整数で入力してください。",
        "{field} must be a whole number, 0 or more.",
    ),
    "error.form.too_long": ("{field}が長すぎます。", "{field} is too long."),
    "error.form.bad_duration": (
        "{field}は「24h」「3d」「90m」のように入力してください。",
        "{field}: enter a duration such as 24h, 3d or 90m.",
    ),
    "error.form.too_far": ("{field}は366日（366d）以内で入力してください。", "{field}: at most 366 days (366d)."),
    "error.form.not_a_place": (
        (
            "{field}は場所の名称かサイトコードを40字以内で入力してください（例：本庁舎3階、koganei-hq-3f）。"
            "住所・番地・電話番号・人の名前は書かず、必要なら詳細欄へ（証拠としてのみ保管されます）。"
        ),
        (
            "{field}: enter a place name or site code of at most 40 characters (e.g. Main building 3F, "
            "koganei-hq-3f). No address, house number, telephone number or person's name: put those in the "
            "details, which are kept as evidence only."
        ),
    ),
    "error.form.unknown_item": (
        "{field}は一覧の項目から選んでください。ほかの内容は詳細欄へ（証拠としてのみ保管されます）。",
        "{field}: choose items from the list; describe anything else in the details (kept as evidence only).",
    ),
    "back": ("戻る", "Back"),
    # list
    "list.title": ("インシデント一覧", "Incidents"),
    "list.filters": ("絞り込み", "Filters"),
    "list.any": ("すべて", "any"),
    "list.overdue": ("期限超過のみ", "Overdue only"),
    "list.apply": ("絞り込む", "Apply"),
    "list.empty": ("該当するインシデントはありません。", "No incidents match."),
    "list.count": ("{n}件", "{n} incident(s)"),
    "col.incident": ("インシデント", "Incident"),
    "col.contract": ("契約", "Contract"),
    "col.city": ("自治体", "City"),
    "col.kind": ("種類", "Kind"),
    "col.severity": ("重大度", "Severity"),
    "col.state": ("状態", "State"),
    "col.opened": ("発覚・受付", "Opened"),
    "col.next_due": ("次の期限", "Next deadline"),
    "col.records": ("件数", "Records"),
    "overdue": ("期限超過", "overdue"),
    # incident page
    "inc.summary": ("概要", "Summary"),
    "inc.ppc": ("個人情報保護委員会への報告（評価と期限）", "Report to the PPC (assessment and clocks)"),
    "inc.deadlines": ("期限", "Deadlines"),
    "inc.timeline": ("タイムライン", "Timeline"),
    "inc.timeline_live": ("自動更新中", "updating live"),
    "inc.tasks": ("タスク", "Tasks"),
    "inc.no_tasks": ("タスクはありません。", "No tasks."),
    "inc.evidence": ("証拠（目録）", "Evidence (manifest)"),
    "inc.no_evidence": ("封印された証拠はありません。", "No sealed evidence."),
    "inc.reports": ("報告書", "Reports"),
    "inc.actions": ("対応", "Actions"),
    "inc.show_details": ("届出の詳細を表示（閲覧は記録されます）", "Show the filed details (viewing is logged)"),
    "inc.show_evidence": ("証拠の目録ページ", "Evidence manifest page"),
    "inc.contract_page": ("契約条項・連絡先", "Contract clauses and contacts"),
    "inc.no_run": ("プレイブックはまだ開始されていません。", "The playbook has not started yet."),
    "f.incident_id": ("インシデント番号", "Incident"),
    "f.contract": ("契約", "Contract"),
    "f.city": ("自治体", "City"),
    "f.kind": ("種類", "Kind"),
    "f.origin": ("端緒", "Origin"),
    "f.severity": ("重大度", "Severity"),
    "f.state": ("状態", "State"),
    "f.triage": ("トリアージ", "Triage"),
    "f.records": ("件数", "Records"),
    "f.data_items": ("個人情報の項目", "Data items"),
    "f.first_event": ("発生（最初の事象）", "First event"),
    "f.discovered": ("発覚日時", "Discovered"),
    "f.rules": ("検知ルール", "Rules"),
    "origin.filed": ("届出", "filed"),
    "origin.detection": ("検知", "detected"),
    "dl.step": ("手順", "Step"),
    "dl.article": ("条項", "Clause"),
    "dl.due": ("期限", "Due"),
    "dl.left": ("残り", "Time left"),
    "dl.verdict": ("状況", "Status"),
    "dl.none": ("期限はありません。", "No deadlines."),
    "task.title": ("タスク", "Task"),
    "task.owner": ("担当", "Owner"),
    "task.due": ("期限", "Due"),
    "task.status": ("状態", "Status"),
    "task.source": ("由来", "From"),
    "ev.bundle": ("束", "Bundle"),
    "ev.items": ("件数", "Items"),
    "ev.sha256": ("SHA-256（平文）", "SHA-256 (plaintext)"),
    "ev.sealed": ("封印日時", "Sealed"),
    "ev.by": ("封印者", "Sealed by"),
    "ev.chain": ("保管記録（ハッシュ連鎖）：{status}、{entries}件", "Custody chain: {status}, {entries} entries"),
    "ev.verify": ("証拠の完全性を検証する", "Verify evidence integrity"),
    "ev.intact": (
        "改ざんはありません（すべての束と保管記録が一致）。",
        "Intact: every bundle and the custody chain check out.",
    ),
    "ev.tampered": ("改ざん・欠落が見つかりました：", "Altered or missing:"),
    "ev.wrong_key": (
        "鍵が異なるため検証できない束があります：",
        "Some bundles cannot be checked with this key:",
    ),
    "ev.no_key": (
        "証拠鍵（KINKYU_EVIDENCE_KEY）が設定されていないため、暗号の検証はできません。保管記録の連鎖：{status}",
        "No evidence key (KINKYU_EVIDENCE_KEY) is configured, so the seals cannot be checked. Custody chain: {status}",
    ),
    "ev.none": ("この事案には証拠がありません。", "This incident has no evidence."),
    "ev.unkeyed": (
        "改ざんは見つかりませんが、完全性の鍵の導入前に封印された証拠（unkeyed, legacy）で、認証されていません。",
        "Nothing found altered, but sealed before integrity keys (unkeyed, legacy): not authenticated.",
    ),
    # integrity: MACs and the anchor outside the data volume (evidence verification, the audit log)
    "int.keyed": ("完全性の鍵（MAC）で認証済みです。", "Authenticated by the integrity keys (MACs)."),
    "int.unkeyed": (
        "鍵導入前の記録（unkeyed, legacy）：改ざんは見つかりませんが、認証されていません。",
        "Written before integrity keys (unkeyed, legacy): nothing found altered, but not authenticated.",
    ),
    "int.unverifiable": ("認証できない記録があります（上記）。", "Some entries could not be authenticated (above)."),
    "int.empty": ("記録はまだありません。", "No entry yet."),
    "int.matches": (
        "データ領域の外の記録（アンカー）と一致しています。",
        "Matches its anchor outside the data volume.",
    ),
    "int.ahead": (
        "アンカーより新しい記録があります（まだ公開されていません）。MAC で認証済みです。",
        "Entries newer than the anchor (not yet published); authenticated by their MACs.",
    ),
    "int.mismatch": (
        "データ領域の外の記録（アンカー）と一致しません。",
        "Does not match its anchor outside the data volume.",
    ),
    "int.none": (
        "アンカーは公開されていません（末尾の削除は検出できません）。",
        "No anchor was published (entries cut off the end could not be noticed).",
    ),
    "int.not-checked": (
        "アンカーを読めなかったため照合していません（末尾の削除は検出できません）。",
        "The anchor could not be read, so it was not compared (entries cut off the end could not be noticed).",
    ),
    "rep.kind.first": ("第一報", "First report"),
    "rep.kind.progress": ("経過報告", "Progress report"),
    "rep.kind.final": ("最終報告", "Final report"),
    "rep.kind.public": ("公表用", "Public version"),
    "rep.lang.ja": ("日本語", "Japanese"),
    "rep.lang.en": ("英語", "English"),
    "rep.note": (
        "ダウンロードは記録されます。PDFの作成には数秒かかります。",
        "Downloads are logged. A PDF takes a few seconds.",
    ),
    # forms on the incident page
    "triage.title": ("トリアージ（事故か否かの判断）", "Triage (is it a breach?)"),
    "triage.decision": ("判断", "Decision"),
    "triage.breach": ("事故（漏えい等）と判断", "Breach"),
    "triage.risk": ("漏えい等のおそれと判断", "Risk of a breach"),
    "triage.dismiss": ("事故に該当しない（理由を記入）", "Not a breach (give a reason)"),
    "triage.reason": (
        "理由（分類コード、例: false-positive。文章は証拠として保管）",
        "Reason (a code such as false-positive; prose is kept as evidence)",
    ),
    "triage.current": ("現在：{state}", "Now: {state}"),
    "cont.title": ("封じ込めの結果", "Containment result"),
    "cont.command": ("封じ込め指示", "Containment command"),
    "cont.result": ("結果", "Result"),
    "cont.none": ("封じ込め指示はありません。", "There are no containment commands."),
    "cont.done": ("実施済み", "done"),
    "cont.failed": ("失敗", "failed"),
    "cont.declined": ("実施しない", "declined"),
    "upd.title": ("対応の記録（復旧・再発防止など）", "Record progress (recovery, recurrence prevention, …)"),
    "upd.step": ("手順", "Step"),
    "upd.task": ("タスク（任意）", "Task (optional)"),
    "upd.none": ("（選択なし）", "(none)"),
    "upd.note": ("メモ（証拠として保管、メールには含まれません）", "Note (kept as evidence, never e-mailed)"),
    "upd.done": ("完了した", "Done"),
    "res.title": ("終結", "Closure"),
    "res.submit": ("インシデントを終結する", "Close the incident"),
    "ack.title": ("受領確認", "Acknowledge receipt"),
    "ack.submit": ("報告を受領しました（受領確認）", "We received the report (acknowledge)"),
    "ins.title": ("甲の指示", "Instruction from the city"),
    "ins.what": (
        "指示（分類コード、例: submit-access-log。文章は証拠として保管）",
        "Instruction (a code such as submit-access-log; prose is kept as evidence)",
    ),
    "ins.within": ("期限（例: 24h、3d）", "Within (e.g. 24h, 3d)"),
    "ins.report_request": ("書面での報告を求める", "Request a written report"),
    "ins.submit": ("指示する", "Instruct"),
    "rr.title": ("報告の求め", "Request a report"),
    "rr.submit": ("書面での報告を求める", "Request a written report"),
    "submit": ("送信", "Submit"),
    "flash.sent": (
        "送信しました（{event_id}）。反映まで数秒かかります。",
        "Sent ({event_id}). It shows here within seconds.",
    ),
    # details / evidence pages
    "det.title": ("届出の詳細", "Filed details"),
    "det.notice": (
        "個人情報を含むことがあります。閲覧は監査ログに記録されています。",
        "This may contain personal information. Your viewing is recorded in the audit log.",
    ),
    "det.summary": ("概要（届出）", "Summary (as filed)"),
    "det.location": ("発生場所", "Place"),
    "det.place": ("発生場所（記録上の名称）", "Place (as recorded)"),
    "det.reported_by": ("届出者", "Filed by"),
    "det.actor": ("アカウント", "Account"),
    "det.system": ("システム", "System"),
    "det.filed": ("届出の内容（封印された証拠から）", "As filed (from the sealed evidence)"),
    "det.filed.shown": (
        "届出の原文は証拠として封印されています。以下はその封印から読み出したものです。",
        "The filing is kept sealed as evidence; what follows is read back from the seal.",
    ),
    "det.filed.no-key": (
        "証拠の鍵（KINKYU_EVIDENCE_KEY）がこのコンソールに設定されていないため、届出の原文は表示できません。",
        "This console has no evidence key (KINKYU_EVIDENCE_KEY), so the filing as written cannot be shown.",
    ),
    "det.filed.not-sealed": (
        "届出の原文はまだ証拠として封印されていません（数秒から数分かかります）。後でもう一度開いてください。",
        "The filing is not sealed as evidence yet (it takes seconds to minutes). Open this page again later.",
    ),
    "det.filed.unreadable": (
        "封印された証拠を読めませんでした。証拠のページで完全性を確認してください。",
        "The sealed evidence could not be read. Check its integrity on the evidence page.",
    ),
    "det.event_id": ("イベントID", "Event id"),
    "det.kind": ("種類", "Kind"),
    "det.details": ("詳細（自由記述）", "Details (free text)"),
    "det.occurred_at": ("発生日時", "Occurred"),
    "det.discovered_at": ("発覚日時", "Discovered"),
    "det.records_affected": ("件数", "Records"),
    "det.data_items": ("個人情報の項目", "Data items"),
    "evp.title": ("証拠の目録", "Evidence manifest"),
    # filing
    "file.title": ("インシデントを届け出る", "File an incident"),
    "file.contract": ("契約", "Contract"),
    "file.kind": ("種類", "Kind"),
    "file.summary": ("概要（何が起きたか。個人名は書かないでください）", "Summary (what happened; no names please)"),
    "file.occurred": ("発生日時（日本時間）", "When it happened (Japan time)"),
    "file.discovered": ("発覚日時（日本時間）", "When it was discovered (Japan time)"),
    "file.location": (
        "発生場所（場所の名称かサイトコード。住所・人の名前は書かないでください）",
        "Place (a place name or site code; no address or person's name)",
    ),
    "file.records": ("件数（本人の数）", "Records (people) affected"),
    "file.items": ("個人情報の項目", "Data items"),
    "file.details": ("詳細（証拠としてのみ保管）", "Details (kept as evidence only)"),
    "file.submit": ("届け出る", "File"),
    "file.no_contracts": ("届け出られる契約がありません。", "There is no contract you can file under."),
    "filed.title": ("届出を送信しました", "Filing sent"),
    "filed.body": (
        "届出（{event_id}）を送信しました。インシデントが開かれると、ここにリンクが表示されます。",
        "Your filing ({event_id}) was sent. A link appears here once the incident is opened.",
    ),
    "filed.waiting": ("インシデントの作成を待っています…", "Waiting for the incident to open…"),
    "filed.open": ("インシデント {incident_id} を開く", "Open incident {incident_id}"),
    # contract page
    "con.title": ("契約 {contract_id}", "Contract {contract_id}"),
    "con.clauses": ("条項（プレイブックの手順と根拠）", "Clauses (the playbook's steps and their grounds)"),
    "con.contacts": ("連絡先", "Contacts"),
    "con.playbook": ("プレイブック", "Playbook"),
    "con.city_contacts": ("委託者（甲）", "City"),
    "con.contractor_contacts": ("受託者（乙）", "Contractor"),
    "con.no_playbook": ("この自治体のプレイブックはありません。", "There is no playbook for this city."),
    "con.quote": ("条文", "Text"),
    "con.urgency": ("期限の文言", "Urgency"),
    "con.to": ("宛先", "To"),
    "con.name": ("氏名", "Name"),
    "con.role": ("役割", "Role"),
    "con.email": ("メール", "E-mail"),
    "con.period": ("契約期間", "Term"),
    "con.contractor": ("受託者", "Contractor"),
    "con.document": ("根拠文書", "Document"),
    # audit
    "aud.title": ("監査ログ", "Audit log"),
    "aud.ts": ("日時", "Time"),
    "aud.who": ("利用者", "Who"),
    "aud.role": ("役割", "Role"),
    "aud.action": ("操作", "Action"),
    "aud.target": ("対象", "Target"),
    "aud.outcome": ("結果", "Outcome"),
    "aud.detail": ("補足", "Detail"),
    "aud.chain_ok": ("ハッシュ連鎖：正常", "Hash chain: intact"),
    "aud.chain_bad": ("ハッシュ連鎖に問題があります：", "Hash chain problems:"),
    "aud.filter": ("絞り込み", "Filter"),
    # acknowledgement links
    "ackp.title": ("受領確認", "Acknowledge"),
    "ackp.confirm": (
        "インシデント {incident_id} のメッセージを受け取ったことを記録するには、ボタンを押してください。",
        "Press the button to record that you received the message on incident {incident_id}.",
    ),
    "ackp.submit": ("受領を確認する", "Acknowledge"),
    "ackp.unconfigured.title": ("受領確認を受け付けられません", "Acknowledgements cannot be taken here"),
    "ackp.unconfigured.body": (
        (
            "このコンソールには受領確認リンクの鍵（KINKYU_NOTIFY_ACK_SECRET）が設定されていません。"
            "送信元に電話などでお伝えください。"
        ),
        (
            "This console has no acknowledgement link secret (KINKYU_NOTIFY_ACK_SECRET). "
            "Please tell the sender by telephone."
        ),
    ),
}


def t(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (ja or en), with ``{placeholders}`` filled."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def pick(lang: str, pair: tuple[str, str]) -> str:
    """One of a (ja, en) pair."""
    return pair[1] if lang == "en" else pair[0]


def _label(table: dict[str, tuple[str, str]], lang: str, key: str | None) -> str:
    if key is None:
        return "-"
    pair = table.get(key)
    return pick(lang, pair) if pair is not None else key


def kind_label(lang: str, kind: str | None) -> str:
    """An incident kind's name."""
    return _label(KIND_LABELS, lang, kind)


def item_label(lang: str, item: str | None) -> str:
    """A data item's name."""
    return _label(ITEM_LABELS, lang, item)


def state_label(lang: str, state: str | None) -> str:
    """A run state's (or outcome's) name."""
    return _label(STATE_LABELS, lang, state)


def severity_label(lang: str, severity: str | None) -> str:
    """A severity's name."""
    return _label(SEVERITY_LABELS, lang, severity)


def triage_label(lang: str, triage: str | None) -> str:
    """A triage status's name."""
    return _label(TRIAGE_LABELS, lang, triage)


def field_label(lang: str, field: str) -> str:
    """The label of a form field, for error messages."""
    names = {
        "contract_id": "file.contract",
        "kind": "file.kind",
        "summary": "file.summary",
        "occurred_at": "file.occurred",
        "discovered_at": "file.discovered",
        "location": "file.location",
        "records_affected": "file.records",
        "data_items": "file.items",
        "details": "file.details",
        "decision": "triage.decision",
        "reason": "triage.reason",
        "command_id": "cont.command",
        "result": "cont.result",
        "step": "upd.step",
        "task_id": "upd.task",
        "note": "upd.note",
        "title": "ins.what",
        "within": "ins.within",
    }
    return t(lang, names.get(field, field))
