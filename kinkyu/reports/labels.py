# no copyright header in this project; Japanese text uses full-width punctuation
"""The words of a written incident report, in Japanese (the reference) and English.

Pure data and formatting helpers: :mod:`kinkyu.reports.model` picks one
language per report, so templates only lay out strings they are given.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from kinkyu.core.labels import SEVERITY_LABELS as SEVERITY_LABELS  # noqa: PLC0414  # re-exported
from kinkyu.core.timefmt import doc_date, doc_datetime

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

# Shown for an item nobody knows yet. The English report keeps the Japanese word as well, so a
# reader (or a test) finds the same marker in either language.
UNKNOWN_JA = "調査中"
UNKNOWN_EN_TEXT = "under investigation (調査中)"

WORDS: dict[str, tuple[str, str]] = {
    # report titles, per kind
    "title.first": ("事故報告書（第一報）", "Incident report (first report)"),
    "title.progress": ("事故報告書（経過報告）", "Incident report (progress report)"),
    "title.final": ("事故報告書（最終報告）", "Incident report (final report)"),
    "title.public": ("事故報告書（公表用）", "Incident report (for publication)"),
    # the title with the event's nature under the clause (システム停止事故, 契約違反のおそれ, …)
    "title.nature": ("{title}：{nature}", "{title}: {nature}"),
    "kind.first": ("第一報", "first report"),
    "kind.progress": ("経過報告", "progress report"),
    "kind.final": ("最終報告", "final report"),
    "kind.public": ("公表用", "for publication"),
    "notice.first": (
        (
            "本報告は第一報であり、現時点で判明している範囲の事実を記載しております。契約及び当事者を除き全ての記載は"
            "暫定であり、「調査中」の事項は判明次第追完いたします。"
        ),
        (
            "First report: the facts known so far. Everything but the contract and parties is provisional; "
            "items marked 'under investigation' will be supplied as they become known."
        ),
    ),
    "notice.progress": (
        "本報告は経過報告であり、契約及び当事者並びに発生・発覚の日時及び場所は確定、その他の記載は暫定でございます。",
        "Progress report: the contract and parties and the dates and place are final; everything else is provisional.",
    ),
    "notice.final": (
        "本報告は最終報告であり、全ての記載を確定として報告いたします。",
        "Final report: every section is reported as final.",
    ),
    "notice.public": (
        (
            "公表用の版です。個人を識別できる情報、アカウントID、イベントID、職員の氏名（役割のみ記載）"
            "及び自由記述（概要・詳細・場所の記述）を除いています。件数、項目の種類及び日時は記載しています。"
        ),
        (
            "Version for publication: no information identifying a person, no account or event ids, no staff names "
            "(roles only) and no free text (summary, details, place descriptions). Counts, categories and dates remain."
        ),
    ),
    "notice.public_final": ("本件は終結しており、記載は確定です。", "The incident is closed; the content is final."),
    "notice.public_provisional": (
        "本件は対応中であり、記載は暫定です。",
        "The incident is still open; the content is provisional.",
    ),
    "notice.not_closed": (
        "なお、本件は本報告の時点で終結しておりません（状態: {state}）。",
        "Note: the incident was not closed when this report was made (state: {state}).",
    ),
    "notice.still_missing": (
        "次の報告事項は本報告の時点で調査中であり、判明次第追完いたします: {items}。",
        "These report items are still under investigation: {items}.",
    ),
    "status.final": ("確定", "final"),
    "status.provisional": ("暫定", "provisional"),
    "withheld": ("（公表版では記載しません）", "(withheld in the public version)"),
    "acct.withheld": (
        "（IDの形式でないため記載しません。記録は封印された証拠にあります）",
        "(not shown: not shaped like an id; the record is in the sealed evidence)",
    ),
    "acct.withheld_short": ("（ID省略）", "(id not shown)"),
    "none": ("なし", "none"),
    "yes": ("あり", "yes"),
    "no": ("なし", "no"),
    "not_recorded": ("記録なし", "not recorded"),
    # header
    "head.incident": ("事案番号", "Incident"),
    "head.generated": ("作成日時（この時点の記録による）", "As of"),
    "head.to": ("宛先", "To"),
    "head.from": ("報告者", "From"),
    "head.sections": ("確定/暫定", "Final/provisional"),
    "to.city": ("{city}長 様", "The Mayor of {city}"),
    "col.item": ("項目", "Item"),
    "col.value": ("内容", "Value"),
    "notice_draft.title": (
        "付録　本人への通知の下書き（〈市〉が確認のうえ送付。Kinkyuは送付しません）",
        "Appendix: draft notice to the people affected (the city reviews and sends it; Kinkyu does not)",
    ),
    # the letter (事故報告書 as official correspondence)
    "letter.number_label": ("文書番号", "Ref."),
    "letter.number": ("{prefix}第{number}号", "{prefix}{number}"),
    "letter.addressee": ("{head}　様", "To: {head}"),
    "letter.sender": ("受託者", "From"),
    "letter.address": ("所在地", "Address"),
    "letter.representative": ("代表者", "Representative"),
    "letter.responsible": ("作業責任者", "Person responsible"),
    "letter.contact": ("連絡先", "Contact"),
    "letter.subject": ("{title}の提出について", "Submission: {title}"),
    "letter.apology": (
        (
            "このたびは、貴〈市〉からお預かりしている個人情報の取扱いに関し、多大なご迷惑とご心配をおかけしておりますことを、"
            "深くお詫び申し上げます。"
        ),
        "We sincerely apologise for the concern and trouble this incident is causing.",
    ),
    "letter.opening_basis": (
        "「{contract}」に係る本件について、{basis}に基づき、下記のとおり報告いたします。",
        'Under {basis}, we report on this incident in "{contract}" as follows.',
    ),
    "letter.opening": (
        "「{contract}」に係る本件について、下記のとおり報告いたします。",
        'We report on this incident in "{contract}" as follows.',
    ),
    "letter.record": ("記", "Details"),
    "letter.end": ("以上", "End"),
    "letter.attachment": ("別紙{n}", "Attachment {n}"),
    "letter.attachments": ("添付資料", "Attachments"),
    "footer.hash": ("報告内容のSHA-256", "SHA-256 of the report content"),
    "footer.page": ("ページ", "Page"),
    "footer.hash_note": (
        (
            "ハッシュは本報告の内容（報告モデルの正規化JSON）のSHA-256です。同じ記録から次のコマンドの出力の"
            "SHA-256を求めると再計算できます。"
        ),
        (
            "The hash is the SHA-256 of this report's content (the canonical JSON of its model); recompute it from "
            "the same records by piping this command's output through sha256sum:"
        ),
    ),
    # section titles
    "sec.contract": ("契約及び当事者", "Contract and parties"),
    "sec.when_where": ("発生日時・発覚日時・発生場所", "When and where"),
    "sec.data": (
        "漏えい等した個人情報の項目及び件数（本人の数）",
        "Personal information involved and the number of people (本人の数)",
    ),
    "sec.circumstances": ("発生状況及び原因", "What happened and why"),
    "sec.secondary_harm": ("二次被害又はそのおそれ", "Secondary harm or its risk"),
    "sec.containment": ("被害拡大防止のために講じた措置", "Containment (被害拡大防止)"),
    "sec.response": ("本人への対応", "What has been done for the people affected"),
    "sec.publication": ("公表", "Publication (公表)"),
    "sec.prevention": ("再発防止策", "Recurrence prevention (再発防止策)"),
    "sec.clauses": ("関係する契約条項及び期限の遵守状況", "Contract clauses engaged and deadlines met"),
    "sec.ppc": (
        "個人情報保護委員会への報告に必要な事項（〈市〉: 施行規則第44条、受託者: 同第8条第1項）",
        "What the report to the PPC needs (the city: APPI Rule 44; the contractor: Rule 8(1))",
    ),
    "sec.timeline": ("経過（タイムライン）", "Timeline"),
    "sec.evidence": ("証拠保全（証拠の目録）", "Evidence preserved (manifest)"),
    # contract
    "contract.city": ("委託者（甲）", "City (甲)"),
    "contract.contractor": ("受託者（乙）", "Contractor (乙)"),
    "contract.title": ("契約件名", "Contract"),
    "contract.id": ("契約番号", "Contract id"),
    "contract.period": ("契約期間", "Contract period"),
    "contract.ended": (
        "契約終了後の事案（{article}により義務は存続）",
        "after the contract ended (duties continue: {article})",
    ),
    "contract.ended_confidentiality": (
        "契約終了後の事案（{article}により秘密保持義務は存続。事故報告の存続の定めはないが、安全側で対応）",
        (
            "after the contract ended (confidentiality continues: {article}; the reporting duty's continuation "
            "is not stated, handled on the safe side)"
        ),
    ),
    "contract.ended_no_clause": (
        "契約終了後の事案（契約終了後の存続を定める条項はないが、安全側で対応）",
        "after the contract ended (no clause says the duties continue; handled on the safe side)",
    ),
    "contract.document": ("適用される特記事項", "Clauses in force"),
    "contract.city_contacts": ("〈市〉の連絡先", "City contacts"),
    "contract.contractor_contacts": ("受託者の連絡先", "Contractor contacts"),
    # when / where
    "when.occurred": ("発生日時", "Occurred (発生日時)"),
    "when.discovered": ("発覚日時", "Discovered (発覚日時)"),
    "when.learned": (
        "受託者が認知した日時（期限の起算点）",
        "Contractor learned of it (deadlines count from here)",
    ),
    "when.lag": ("発生から発覚まで", "Occurrence to discovery"),
    "when.last": ("最後の関連事象", "Last related event"),
    "when.place": ("発生場所", "Place (発生場所)"),
    "when.system": ("システム: {system}", "system: {system}"),
    # data
    "data.items": ("個人情報の項目", "Items of personal information"),
    "data.medium": ("媒体", "Medium"),
    "data.records": ("件数（レコード数）", "Records (件数)"),
    "data.people": ("本人の数", "Number of people (本人の数)"),
    "data.sensitive": ("要配慮個人情報", "Special-care-required information"),
    "data.withheld": (
        "ほか{count}項目（届出の記載が項目名でないため、封印した証拠で確認）",
        "{count} more item(s) (written as free text in the filing; see the sealed evidence)",
    ),
    "data.contract_items": (
        "項目は調査中。契約対象データに含まれる項目: {items}",
        "Items under investigation. The contracted data holds: {items}",
    ),
    "medium.electronic": ("電子データ", "electronic data"),
    "medium.electronic_system": ("電子データ（システム: {system}）", "electronic data (system: {system})"),
    # circumstances
    "circ.kind": ("事案の種別", "Kind of incident"),
    "circ.rules": ("検知内容", "Detected"),
    "circ.situation": ("発生状況", "What happened (発生状況)"),
    "circ.sealed": (
        "届出に記載あり（個人情報を含みうるため、封印された証拠としてのみ保管。事故対応デスクの詳細画面で閲覧できます）",
        (
            "As filed: kept only in the sealed evidence, since it may name people "
            "(the incident desk's details page shows it)"
        ),
    ),
    "circ.actor": ("関係するアカウント", "Account involved"),
    "circ.reporter": ("発見者・届出者", "Found / filed by"),
    "circ.severity": ("重大度", "Severity"),
    "circ.scale": ("関連する操作・検知", "Events and findings"),
    "circ.scale_value": ("操作 {events}件、検知 {findings}件", "{events} event(s), {findings} finding(s)"),
    "circ.cause": ("原因", "Cause (原因)"),
    "circ.cause_party": ("原因のある当事者", "Party at which the cause lies"),
    "circ.detected_text": (
        "{system}において{rules}を検知しました（操作{events}件）。",
        "Kinkyu detected {rules} on {system} ({events} event(s)).",
    ),
    "circ.detected_system": ("契約対象システム", "the contracted system"),
    "circ.triage": ("判断（トリアージ）", "Triage"),
    "finder.detection": ("Kinkyu（アクセスログの自動監視）", "Kinkyu (automated access-log monitoring)"),
    "finder.staff": ("受託者の担当者", "a member of the contractor's staff"),
    # secondary harm / response / publication / prevention
    "harm.value": ("二次被害又はそのおそれ", "Secondary harm or its risk"),
    "response.value": ("本人への対応の実施状況", "What has been done for the people affected"),
    "publication.value": ("公表の実施状況", "Publication"),
    "publication.step": ("公表（〈市〉の判断）", "Publication (the city's decision)"),
    "publication.done": ("公表済み（{when}、記録による）", "published ({when}, as recorded)"),
    "prevention.value": ("再発防止のための措置", "Measures to prevent recurrence"),
    "prevention.step": ("再発防止策の実施", "Recurrence prevention"),
    "prevention.done": ("実施済み（{when}完了）", "done (completed {when})"),
    "prevention.active": ("実施中（期限: {due}）", "in progress (due {due})"),
    "prevention.active_nodue": ("実施中", "in progress"),
    # containment
    "cont.step": ("手順", "Step"),
    "cont.action": ("措置", "Action"),
    "cont.target": ("対象", "Target"),
    "cont.mode": ("実施方法", "How"),
    "cont.result": ("結果", "Result"),
    "cont.when": ("結果の日時", "Result at"),
    "cont.auto": ("自動実行（契約で許可）", "automatic (allowed by the contract)"),
    "cont.approval": ("承認の上で実施", "on approval"),
    "cont.none": (
        "記録された措置はありません（措置は手作業で実施し、記録してください）。",
        "No containment command recorded (contain by hand and record it).",
    ),
    "cont.summary": ("措置の状況", "Status"),
    "cont.summary_value": (
        "{total}件（実施済み {done}件、承認待ち {proposed}件、失敗 {failed}件、見送り {declined}件）",
        "{total} command(s): {done} done, {proposed} awaiting approval, {failed} failed, {declined} declined",
    ),
    # clauses / deadlines
    "cl.article": ("条項", "Clause"),
    "cl.content": ("内容", "What it says"),
    "cl.basis": ("根拠", "Engaged by"),
    "cl.basis_rule": ("検知: {rule}", "detection: {rule}"),
    "cl.basis_step": ("手順: {step}", "step: {step}"),
    "dl.step": ("手順", "Step"),
    "dl.clause": ("条項・期限の語", "Clause / time word"),
    "dl.due": ("期限", "Due"),
    "dl.sent": ("送付", "Sent"),
    "dl.done": ("実施（受領確認）", "Done (acknowledged)"),
    "dl.elapsed": ("認知からの所要時間", "Time from learning"),
    "dl.verdict": ("判定", "Verdict"),
    "dl.no_run": (
        "対応手順（プレイブック）の記録がありません。期限の遵守状況は調査中です。",
        "No playbook run is recorded; whether deadlines were met is under investigation.",
    ),
    "dl.first_sent": ("認知から第一報の送付まで", "Learning to first report sent"),
    "dl.first_ack": ("認知から第一報の受領確認まで", "Learning to first report acknowledged"),
    "dl.first_none": ("第一報の手順なし", "no first-report step"),
    "dl.not_yet": ("未了", "not yet"),
    "dl.tasks": ("タスク", "Tasks"),
    "dl.task": ("タスク", "Task"),
    "dl.owner": ("担当", "Owner"),
    "dl.tasks_value": (
        "{total}件（期限内完了 {met}件、期限超過 {missed}件、未完了 {open}件、取消 {cancelled}件）",
        "{total} task(s): {met} met, {missed} missed, {open} open, {cancelled} cancelled",
    ),
    "verdict.met": ("○ 期限内", "○ met"),
    "verdict.missed": ("× 期限超過", "× missed"),
    "verdict.pending": ("△ 期限前（未了）", "△ pending"),
    "verdict.done": ("○ 完了（期限の定めなし）", "○ done (no deadline)"),
    "verdict.open": ("－ 未了（期限の定めなし）", "- open (no deadline)"),
    "verdict.skipped": ("－ 対象外・未実施", "- skipped"),
    "verdict.na": ("－ 該当なし", "- not applicable"),
    "verdict.waiting": ("－ 未開始", "- not started"),
    # PPC
    "ppc.party_contractor": (
        "受託者の報告義務（個人情報保護法第26条・施行規則第7条）",
        "Contractor's duty (APPI Art. 26, Rule 7)",
    ),
    "ppc.party_city": (
        "〈市〉の報告義務（個人情報保護法第68条・施行規則第43条）",
        "City's duty (APPI Art. 68, Rule 43)",
    ),
    "ppc.reportable": ("報告対象（{triggers}）", "reportable ({triggers})"),
    "ppc.not_reportable": ("報告対象外", "not reportable"),
    "ppc.decided_yes": ("報告対象", "reportable"),
    "ppc.override": ("（担当者の判断: {verdict}）", " (decided by staff: {verdict})"),
    "ppc.trigger": ("事由", "Trigger"),
    "ppc.fired": ("該当", "Applies"),
    "ppc.reason": ("理由", "Reason"),
    "ppc.encrypted": ("高度な暗号化により報告対象外", "exempt: strong encryption"),
    "ppc.contractor_clock": ("受託者の期限（〈市〉への報告）", "Contractor's clock (report to the city)"),
    "ppc.contractor_clock_value": (
        "期限 {due}（{word}）。{state}",
        "due {due} ({word}). {state}",
    ),
    "ppc.state_released": (
        (
            "{reported}に〈市〉へ報告済み。報告事項を〈市〉に伝えたことで、受託者の委員会への報告及び本人通知の義務は免除されます"
            "（個人情報保護委員会Q&A）。"
        ),
        (
            "Reported to the city {reported}: having told the city the items it knows releases the contractor from "
            "reporting to the PPC and notifying individuals (PPC Q&A)."
        ),
    ),
    "ppc.state_late": ("（期限後の報告）", " (after the deadline)"),
    "ppc.state_pending": ("〈市〉への報告は未了（期限前）。", "Not yet reported to the city (within the deadline)."),
    "ppc.state_overdue": ("〈市〉への報告は未了で、期限を過ぎています。", "Not yet reported to the city: overdue."),
    "ppc.city_clock": ("〈市〉の期限（委員会への報告）", "City's clock (report to the PPC)"),
    "ppc.city_clock_value": (
        (
            "起算日 {learned}（第一報が〈市〉に届いた日）。"
            "速報（施行規則第44条第1項、速やかに）: {prelim_from}〜{prelim_due}（目安3〜5日）、"
            "確報（同条第2項）: {final_due}（{days}日）"
        ),
        (
            "Day 1 {learned} (the first report reached the city). Preliminary (APPI Rule 44(1), promptly): "
            "{prelim_from} to {prelim_due} (about 3-5 days); final (Rule 44(2)): {final_due} ({days} days)"
        ),
    ),
    # Before the clock starts, both reports are named all the same, with their rule and period.
    "ppc.city_clock_pending": (
        (
            "〈市〉の期限は、第一報が〈市〉に届いた日（〈市〉の職員が知った日）から起算します（未到達）。"
            "速報（施行規則第44条第1項）: 速やかに（目安3〜5日）、確報（同条第2項）: {days}日以内"
            "（不正の目的によるおそれがあるときは60日）"
        ),
        (
            "The city's deadlines count from the day the first report reaches it (not yet). "
            "Preliminary (APPI Rule 44(1)): promptly (about 3-5 days); final (Rule 44(2)): within {days} days "
            "(60 with a possible improper purpose)"
        ),
    ),
    "ppc.final_days": ("確報の期限の日数", "Final-report period"),
    "ppc.final_days_value": ("{days}日{why}", "{days} days{why}"),
    "ppc.provisional": (
        "。暫定（要確認）: {triggers}（トリアージ等で担当者が確認するまで報告対象・60日の判断には含めない）",
        "; provisional (to be confirmed): {triggers} (counted once a person confirms it)",
    ),
    "ppc.provisional_mark": ("暫定（要確認）", "provisional"),
    "ppc.not_applicable": (
        (
            "{nature}であり、個人情報の漏えい等に当たらないため、個人情報保護委員会への報告の対象外です"
            "（個人情報が関係すると判明したときは改めて判定します）"
        ),
        (
            "a {nature}, not a leak of personal information: no report to the PPC is due "
            "(assessed again if personal information turns out to be involved)"
        ),
    ),
    "ppc.improper": ("（不正の目的のおそれがあるため60日）", " (60: possible improper purpose)"),
    "ppc.no": ("No.", "No."),
    "ppc.item": ("報告事項", "Item"),
    "ppc.value": ("内容", "Content"),
    "ppc.missing": ("調査中の報告事項", "Items under investigation"),
    "ppc.complete": ("全ての報告事項が判明しています", "every item is known"),
    # timeline
    "tl.chart": ("経過図（各段階と期限）", "Phases against their deadlines"),
    "tl.axis": ("最初の事象からの経過時間（対数目盛）", "Time since the first event (log scale)"),
    "tl.due": ("期限", "due"),
    "tl.markers": ("図中の番号", "Numbered lines"),
    "tl.phases": ("段階", "Phase"),
    "tl.marker": ("時点", "Moment"),
    "tl.start": ("開始", "Start"),
    "tl.end": ("完了", "End"),
    "tl.when": ("日時", "When"),
    "tl.who": ("記録者", "Who"),
    "tl.kind": ("種別", "Kind"),
    "tl.what": ("内容", "What"),
    "tl.count": ("記録 {n}件", "{n} entries"),
    "tl.empty": ("記録なし", "no entries"),
    "phase.detected": ("検知・受付", "Detected / opened"),
    "phase.first_report": ("第一報", "First report"),
    "phase.written_report": ("書面報告", "Written report"),
    "phase.containment": ("被害拡大防止", "Containment"),
    "phase.recovery": ("復旧", "Recovery"),
    "phase.closed": ("終結", "Closed"),
    "phase.written_in_first": ("第一報を書面で実施", "the first report is written"),
    "phase.not_required": ("契約上の定めなし", "not required by the clauses"),
    "marker.occurred": ("発生", "occurred"),
    "marker.discovered": ("受託者の認知", "contractor learned"),
    "marker.now": ("本報告の作成時点", "this report"),
    "marker.ppc_prelim": ("〈市〉の速報期限（目安）", "city's preliminary report due (guideline)"),
    "marker.ppc_final": ("〈市〉の確報期限", "city's final report due"),
    "who.system": ("Kinkyu（システム）", "Kinkyu (system)"),
    "who.staff": ("担当者", "staff"),
    "who.city": ("〈市〉の担当者", "city staff"),
    # evidence
    "ev.none": (
        "証拠保全ストアにこの事案の記録はありません。",
        "The evidence store holds nothing for this incident.",
    ),
    "ev.bundle": ("バンドルID", "Bundle id"),
    "ev.items": ("件数", "Items"),
    "ev.plain": ("内容のSHA-256", "Plaintext SHA-256"),
    "ev.cipher": ("暗号文のSHA-256", "Ciphertext SHA-256"),
    "ev.sealed_at": ("封印日時", "Sealed at"),
    "ev.sealed_by": ("封印者", "Sealed by"),
    "ev.key": ("鍵ID", "Key id"),
    "ev.chain": ("管理記録（custody chain）", "Custody chain"),
    "ev.chain_intact": (
        (
            "改ざんなし・認証済み（{entries}件すべてのMACを完全性の鍵で検証、最終 seq {seq}、SHA-256 {hash}。"
            "末尾の欠落はアンカーと照合する kinkyu evidence verify で確認）"
        ),
        (
            "intact and authenticated (all {entries} entries' MACs verified with the integrity keys; head seq {seq}, "
            "SHA-256 {hash}; entries cut off the end show only against the anchor: kinkyu evidence verify)"
        ),
    ),
    "ev.chain_intact_unchecked": (
        (
            "ハッシュ連鎖は一致（{entries}件、最終 seq {seq}、SHA-256 {hash}）。"
            "ただし完全性の鍵なしで作成した報告のため認証されていません：ハッシュを計算し直した書き換えはここでは分かりません。"
            "kinkyu evidence verify（完全性の鍵が必要）で確認してください"
        ),
        (
            "hash chain consistent ({entries} entries, head seq {seq}, SHA-256 {hash}) but NOT authenticated: "
            "this report was made without the integrity keys, so a rewrite with recomputed hashes would not show "
            "here; kinkyu evidence verify (needs the integrity keys) authenticates it"
        ),
    ),
    "ev.chain_intact_legacy": (
        (
            "ハッシュ連鎖は一致（{entries}件、最終 seq {seq}、SHA-256 {hash}）。ただし完全性の鍵の導入前の記録"
            "（unkeyed, legacy）でMACがなく、認証されていません"
        ),
        (
            "hash chain consistent ({entries} entries, head seq {seq}, SHA-256 {hash}) but NOT authenticated: "
            "recorded before integrity keys (unkeyed, legacy), without MACs"
        ),
    ),
    "ev.chain_empty": ("記録なし", "no entries"),
    "ev.chain_broken": ("異常あり（{n}件）: {problems}", "BROKEN ({n} problem(s)): {problems}"),
    "ev.chain_broken_public": ("異常あり（{n}件）", "BROKEN ({n} problem(s))"),
    "ev.unreadable": ("読み取れない記録あり: {problems}", "unreadable records: {problems}"),
    "ev.summary": ("バンドル", "Bundles"),
    "ev.summary_value": ("{n}件（計 {items}件の事象）", "{n} bundle(s), {items} item(s) in all"),
    "ev.note": (
        "バンドルは暗号化して保存されています。内容の確認には kinkyu evidence verify を使用します（鍵が必要）。",
        "Bundles are stored encrypted; kinkyu evidence verify re-checks them (needs the key).",
    ),
}

# Timeline entry kinds (kinkyu.core.playbook.run, kinkyu.core.incident).
ENTRY_KINDS: dict[str, tuple[str, str]] = {
    "finding": ("検知", "finding"),
    "filed": ("届出", "filed"),
    "playbook_started": ("対応手順の開始", "playbook started"),
    "contract_ended": ("契約終了後の事案", "contract had ended"),
    "seal_requested": ("証拠保全", "evidence sealed"),
    "containment_proposed": ("被害拡大防止措置の提案", "containment proposed"),
    "containment_untargeted": ("措置の対象なし", "containment without target"),
    "containment_result": ("被害拡大防止措置の結果", "containment result"),
    "report_issued": ("〈市〉への報告", "report to the city"),
    "state_changed": ("状態の変更", "state changed"),
    "step_started": ("手順の開始", "step started"),
    "step_done": ("手順の完了", "step done"),
    "task_opened": ("タスクの登録", "task opened"),
    "task_done": ("タスクの完了", "task done"),
    "task_cancelled": ("タスクの取消", "task cancelled"),
    "deadline_missed": ("期限超過", "deadline missed"),
    "escalated": ("エスカレーション", "escalated"),
    "ack_timeout": ("受領確認なし", "not acknowledged"),
    "acknowledgement": ("〈市〉の受領確認", "acknowledged by the city"),
    "city_instruction": ("〈市〉の指示", "city instruction"),
    "update": ("更新", "update"),
    "resolution": ("終結の申出", "resolution"),
    "dismissed": ("事故に該当しないと判断", "dismissed"),
    "closure_refused": ("終結できず", "closure refused"),
    "measure_needed": ("措置の記録が必要", "measure needed"),
    "report_acknowledged": (
        "メールの受領確認（書面の受領は未了）",
        "e-mail acknowledged (written report not yet received)",
    ),
    "step_done_refused": ("手順の完了を受け付けず", "step not done"),
    "nature_changed": ("事案の扱いの変更", "nature of the incident changed"),
    "ppc_not_applicable": ("委員会への報告の対象外", "no PPC report applies"),
    "incident_updated": ("事案の更新", "incident updated"),
    "note": ("注記", "note"),
    "ppc_assessment": ("委員会への報告要否の判定", "PPC reporting assessment"),
    "ppc_override": ("委員会への報告要否の判断（担当者）", "PPC reporting decided by staff"),
    "ppc_override_refused": ("報告要否の判断を受け付けず", "PPC decision refused"),
    "ppc_clock": ("〈市〉が事態を知った日（委員会への報告の起算日）", "day the city learned (PPC clock)"),
    "ppc_reminder": ("〈市〉への委員会報告期限のお知らせ", "PPC deadline reminder to the city"),
    "ppc_reminder_skipped": ("期限経過のためお知らせせず", "PPC reminder skipped (past due)"),
}

ACTION_LABELS: dict[str, tuple[str, str]] = {
    "disable_account": ("アカウントの無効化", "disable the account"),
    "end_sessions": ("セッションの終了", "end the sessions"),
    "block_ip": ("接続元IPアドレスの遮断", "block the source address"),
    "quarantine_device": ("端末の隔離", "quarantine the device"),
    "revoke_media": ("外部媒体の利用停止", "revoke removable media"),
    "suspend_subcontractor": ("再委託先の作業停止", "suspend the subcontractor"),
    "restore_logging": ("ログ記録の復旧", "restore logging"),
    "failover": ("待機系への切替", "fail over"),
}
TARGET_LABELS: dict[str, tuple[str, str]] = {
    "account": ("アカウント", "account"),
    "system": ("システム", "system"),
    "ip": ("IPアドレス", "address"),
    "device": ("端末", "device"),
}
COMMAND_STATUS: dict[str, tuple[str, str]] = {
    "proposed": ("承認待ち", "awaiting approval"),
    "done": ("実施済み", "done"),
    "failed": ("失敗", "failed"),
    "declined": ("見送り", "declined"),
}
STATE_LABELS: dict[str, tuple[str, str]] = {
    "new": ("開始", "new"),
    "triage": ("判断待ち（トリアージ）", "awaiting triage"),
    "responding": ("対応中", "responding"),
    "closed": ("終結", "closed"),
    "resolved": ("解決", "resolved"),
    "dismissed": ("事故に該当せず", "dismissed"),
}
TRIAGE_LABELS: dict[str, tuple[str, str]] = {
    "pending": ("判断待ち", "pending"),
    "not_needed": ("不要（直ちに報告する事案）", "not needed (reported at once)"),
    "confirmed": ("事故と判断", "confirmed"),
    "dismissed": ("事故に該当しないと判断", "dismissed"),
}


LOCAL_BODY = "〈市〉"
"""Where a Japanese word names the local body (市の担当者, 市への報告): :func:`local` puts 市, 区 or 町 there."""


def local(text: str, unit: str) -> str:
    """``text`` with the local body's word (:data:`LOCAL_BODY`) as ``unit`` (市, 区, 町): never 市 for 品川区."""
    return text.replace(LOCAL_BODY, unit)


class Words:
    """One language's words and formats for a report (``unit``: the local body, 市 / 区 / 町)."""

    def __init__(self, lang: Lang, unit: str = "市") -> None:
        self.lang: Lang = lang
        self.unit = unit

    def __call__(self, key: str, **values: object) -> str:
        """The word for ``key`` in this language, with ``{name}`` fields filled from ``values``."""
        text = self.pick(WORDS[key])
        return text.format(**values) if values else text

    def pick(self, pair: tuple[str, str]) -> str:
        """The member of a (Japanese, English) pair for this language."""
        return pair[1] if self.lang == "en" else local(pair[0], self.unit)

    def of(self, table: dict[str, tuple[str, str]], key: str) -> str:
        """``key``'s label in ``table``, or ``key`` itself when the table does not know it."""
        pair = table.get(key)
        return self.pick(pair) if pair is not None else key

    @property
    def unknown(self) -> str:
        """調査中, in this language."""
        return UNKNOWN_EN_TEXT if self.lang == "en" else UNKNOWN_JA

    def dt(self, ts: datetime | None) -> str:
        """A moment: ``令和8年11月20日（金）10時05分`` / ``Fri 20 Nov 2026 10:05 JST``; 調査中 when None."""
        if ts is None:
            return self.unknown
        return doc_datetime(ts, self.lang)

    def day(self, ts: datetime | None) -> str:
        """A Japan calendar date: ``令和8年11月20日（金）`` / ``Fri 20 Nov 2026``."""
        if ts is None:
            return self.unknown
        return doc_date(ts, self.lang)

    def span(self, value: timedelta) -> str:
        """A duration: ``1日2時間5分`` / ``1 d 2 h 5 min``; negative spans get a sign."""
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        seconds = abs(seconds)
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        units = (("日", " d"), ("時間", " h"), ("分", " min"))
        parts = [
            f"{n}{units[i][1] if self.lang == 'en' else units[i][0]}" for i, n in enumerate((days, hours, minutes)) if n
        ]
        if not parts:
            return "1分未満" if self.lang == "ja" else "under 1 min"
        return sign + (" ".join(parts) if self.lang == "en" else "".join(parts))

    def paren(self, text: str) -> str:
        """``text`` in brackets as the language writes them: ``（…）`` / `` (…)``."""
        return f"（{text}）" if self.lang == "ja" else f" ({text})"

    def join(self, values: list[str] | tuple[str, ...]) -> str:
        """A list as the language writes it."""
        return ", ".join(values) if self.lang == "en" else "、".join(values)
