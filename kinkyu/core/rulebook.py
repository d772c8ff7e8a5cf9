"""Each detection rule's facts, one entry per rule: its id, its names, and the clauses it relates to.

A rule's id is spelt in shared/spec/rules.md; :data:`RULE_IDS` lists them in that
order (the order findings of one action come out in). For each rule, :data:`RULES`
holds what a person reads about it: its name (English; the Japanese is in the
message catalogue) and, per jurisdiction, the clauses of that city's contract
it relates to (how articles are cited: :mod:`kinkyu.core.clauses`). The detection classes
(:mod:`kinkyu.core.rules`), the label table (:data:`kinkyu.core.labels.RULE_LABELS`)
and the clause table (:data:`kinkyu.core.clauses.CLAUSES`) are read from here;
tests/unit/test_rulebook.py checks that every other table keyed by rule id
(containment defaults, the simulator's planted breaches) names exactly these rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from kinkyu.catalogue import P_
from kinkyu.core.jurisdictions import Jurisdiction
from kinkyu.core.model import Clause

RuleId = Literal[
    "unregistered-actor",
    "revoked-credential",
    "unapproved-org",
    "outside-site",
    "off-hours",
    "bulk-export",
    "pii-email",
    "unencrypted-media",
    "credential-attack",
    "scope-violation",
    "post-contract-access",
    "system-outage",
    "log-tampering",
]
RULE_IDS: tuple[RuleId, ...] = get_args(RuleId)

# The kind of event a city's emergency clause names, as a code (the words are the edge's):
#   leak       個人情報の漏えい等の事故 (小金井市 第19条, 豊田市 第13条)
#   accident   事故 (品川区 第17: "事故が生じたときは")
#   outage     システム停止事故 (豊田市 第13条; a stopped system elsewhere, which no clause calls a leak)
#   breach     契約違反 (岡山市 第15条, 千葉市 第13, 八千代市 第8条: "違反する事態が生じ、又は…おそれ")
#   complaint  苦情 (a filed complaint: 小金井市 第18条)
# With ``possible`` (a detection: the event may have happened) a report says のおそれ.
EventNature = Literal["leak", "accident", "outage", "breach", "complaint"]
EVENT_NATURES: tuple[EventNature, ...] = get_args(EventNature)
# The natures that involve personal data: only these go through the PPC assessment (legal.md).
PERSONAL_DATA_NATURES: frozenset[EventNature] = frozenset({"leak", "accident", "breach"})


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What a person reads about one rule: its names and, per jurisdiction, the clauses it relates to."""

    label: str  # English, marked for the catalogue under rule.<id> (kinkyu.core.labels.RULE_NAMES)
    clauses: Mapping[Jurisdiction, tuple[Clause, ...]]


# The 千葉市 / 八千代市 オンライン結合基準 (seed 001) are standards the city applies to a system connected
# to it: 1 binds the 相手方 (措置が講じられていると認められること), 2 the 実施機関's own hardware and
# software. Neither is a clause the contractor signed, so a finding cites the contract's own article that
# the event breaks (千葉市 個人情報取扱特記事項 第N, 八千代市 個人情報の取扱いに関する事項 第N条), which is
# also what 千葉市 第13 / 八千代市 第8条 make reportable ("この…に違反する事態"). Reading of the table: its
# two columns are headed 千葉市 and 八千代市, and the first row of the 千葉市 column cites the 八千代市条例
# (that of the 八千代市 column the 千葉市条例). Not a swap: under each city's standard the 相手方 is the
# other city, whose ordinance shows it meets it. The lettered column is Chiba's, the カタカナ / circled one
# Yachiyo's (playbooks/README.md, "Clause bases").
_CHIBA_STAFF = Clause("千葉市 特記事項 第4第4項", "従事者に対する必要かつ適切な監督（契約の終了後も同様）")

# General clauses, cited where a jurisdiction has nothing more specific.
_OKAYAMA_SAFETY = Clause("岡山市 覚書 第5条", "保有個人情報の漏えい、滅失、改ざん又は損傷の防止その他の適切な安全管理")
_CHIBA_SAFETY = Clause("千葉市 特記事項 第3", "個人情報の漏えい、滅失、改ざん及びき損の防止その他の適切な管理")
_YACHIYO_SAFETY = Clause("八千代市 取扱事項 第6条", "漏えい、滅失、改ざん及びき損の防止その他個人情報の適切な管理")
_KOGANEI_SAFETY = Clause("小金井市 特記事項 第7条", "個人情報の漏えい等の事故の防止その他の適正な管理")
_TOYOTA_SAFETY = Clause("豊田市 特記事項 第10条", "個人情報等の適正な管理")
_SHINAGAWA_ACCESS = Clause("品川区 特記事項 第12", "個人情報へのアクセス制限等、データ保護に関する措置")

RULES: dict[RuleId, RuleFacts] = {
    "unregistered-actor": RuleFacts(
        P_("rule.unregistered-actor", "access by an unregistered account"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第11条第2項", "保有個人情報を取り扱う業務従事者の範囲の限定"),),
            "chiba": (
                Clause("千葉市 特記事項 第4第1項", "従事者を明確にし、その役割とともに発注者に通知"),
                _CHIBA_SAFETY,
            ),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (Clause("小金井市 特記事項 第8条", "取扱責任者及び従事者の特定と書面による報告"),),
            "toyota": (
                Clause("豊田市 特記事項 第10条(2)", "作業責任者等以外の者が個人情報等にアクセスできないように措置"),
                Clause("豊田市 特記事項 第10条⑤", "アクセスできる者を必要最小限とするため取扱者を限定して指定"),
            ),
            "shinagawa": (
                Clause("品川区 特記事項 第2", "個人情報の取扱いの責任者および業務従事者の明確化"),
                _SHINAGAWA_ACCESS,
            ),
        },
    ),
    "revoked-credential": RuleFacts(
        P_("rule.revoked-credential", "action with a revoked credential"),
        clauses={
            "okayama": (
                Clause("岡山市 覚書 第11条第3項", "退職する業務従事者に対する保有個人情報の返還又は破棄の義務づけ"),
            ),
            "chiba": (_CHIBA_STAFF, _CHIBA_SAFETY),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (Clause("小金井市 特記事項 第8条", "取扱責任者及び従事者の変更は書面により申請し承認"),),
            "toyota": (
                Clause(
                    "豊田市 特記事項 作業責任者等の報告等 ⑦",
                    "作業従事者の変更は変更前に様式2 作業責任者等変更報告書で報告",
                ),
                Clause("豊田市 特記事項 第10条(2)", "作業責任者等以外の者が個人情報等にアクセスできないように措置"),
            ),
            "shinagawa": (_SHINAGAWA_ACCESS,),
        },
    ),
    "unapproved-org": RuleFacts(
        P_("rule.unapproved-org", "handling by an unapproved subcontractor"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第6条", "甲の承認を受けない再委託の禁止（再委託の制限等）"),),
            "chiba": (
                Clause("千葉市 特記事項 第8", "発注者の書面による承諾のない第三者による取扱いの禁止（再委託の禁止等）"),
            ),
            "yachiyo": (Clause("八千代市 取扱事項 第5条", "委託者の指示又は承諾のない第三者への提供の禁止"),),
            "koganei": (Clause("小金井市 特記事項 第14条", "第三者への取扱いの委託の禁止・再委託は書面申請と承認"),),
            "toyota": (Clause("豊田市 特記事項 第14条", "やむを得ない場合を除く再委託の禁止"),),
            "shinagawa": (Clause("品川区 特記事項 第7", "甲の承諾のない第三者への委託の禁止（再委託の制限）"),),
        },
    ),
    "outside-site": RuleFacts(
        P_("rule.outside-site", "access from outside the registered work place"),
        clauses={
            "okayama": (_OKAYAMA_SAFETY,),
            "chiba": (
                Clause("千葉市 特記事項 第9", "作業場所の指定等（発注者の庁舎内又は承諾を得た場所での処理）"),
                Clause("千葉市 特記事項 第9第3項", "発注者の庁舎内又は承諾を受けた場所からの持出しの禁止"),
            ),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (
                Clause("小金井市 特記事項 第9条", "作業場所の特定と書面による報告"),
                Clause("小金井市 特記事項 第7条⑵", "個人情報を定められた場所から持ち出さないこと"),
            ),
            "toyota": (
                Clause("豊田市 特記事項 作業場所の特定等 ①", "業務上必要最小限の場所に限定して作業場所を定め報告"),
                Clause(
                    "豊田市 特記事項 第10条(4)", "甲が指定した場所へ持ち出す場合を除き、作業場所から持ち出さないこと"
                ),
            ),
            "shinagawa": (Clause("品川区 特記事項 第15", "甲が指示する施設以外への持出しの禁止"),),
        },
    ),
    "off-hours": RuleFacts(
        P_("rule.off-hours", "access outside the designated work hours"),
        clauses={
            "okayama": (_OKAYAMA_SAFETY,),
            "chiba": (Clause("千葉市 特記事項 第9第2項", "発注者の指定する時間に実施"),),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (_KOGANEI_SAFETY,),
            "toyota": (_TOYOTA_SAFETY,),
            "shinagawa": (Clause("品川区 特記事項 第6", "処理施設、処理日程および作業担当者の通知"),),
        },
    ),
    "bulk-export": RuleFacts(
        P_("rule.bulk-export", "bulk copy or export"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第9条", "甲の指示又は承諾がある場合を除く複写、複製の禁止"),),
            "chiba": (Clause("千葉市 特記事項 第7", "発注者の指示又は承諾があるときを除く複写等の禁止"),),
            "yachiyo": (Clause("八千代市 取扱事項 第3条", "委託者の指示又は承諾がある場合を除く複写及び複製の禁止"),),
            "koganei": (
                Clause("小金井市 特記事項 第5条", "委託者の許可のない複写又は複製の禁止"),
                Clause("小金井市 特記事項 第7条⑶", "事前の承認を受けた必要最小限の範囲を除き複製又は複写しないこと"),
            ),
            "toyota": (
                Clause("豊田市 特記事項 第10条(8)", "複製又は複写は必要な最小限度で、事前に甲の承認"),
                Clause("豊田市 特記事項 第10条⑭", "複製又は複写は事前の承認を受け作業場所で必要最小限の範囲でのみ"),
                Clause("豊田市 特記事項 第10条⑮", "様式4 個人情報・重要情報複製（複写）承認申請書の提出"),
            ),
            "shinagawa": (Clause("品川区 特記事項 第9", "甲の許可のない複写および複製の禁止"),),
        },
    ),
    "pii-email": RuleFacts(
        P_("rule.pii-email", "personal data sent by e-mail or fax"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第8条", "甲の指示又は承諾がある場合を除く第三者への提供の禁止"),),
            "chiba": (Clause("千葉市 特記事項 第6", "発注者の指示又は承諾があるときを除く第三者への引渡しの禁止"),),
            "yachiyo": (Clause("八千代市 取扱事項 第5条", "委託者の指示又は承諾のない第三者への提供の禁止"),),
            "koganei": (Clause("小金井市 特記事項 第6条⑸", "委託者の承諾のない電磁的方法による送信の禁止"),),
            "toyota": (Clause("豊田市 特記事項 第10条(7)", "電子メール又はファクシミリによる送受信の禁止"),),
            "shinagawa": (
                Clause("品川区 特記事項 第8", "第三者への閲覧、貸与、譲渡等の提供の禁止"),
                Clause("品川区 特記事項 第15", "甲が指示する施設以外への持出しの禁止"),
            ),
        },
    ),
    "unencrypted-media": RuleFacts(
        P_("rule.unencrypted-media", "personal data written or uploaded unencrypted"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第13条", "流出事故を想定した安全、確実な搬送等"),),
            "chiba": (Clause("千葉市 特記事項 第10", "電磁的記録の資料等は暗号化等の漏えい防止対策を講じて運搬"),),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (
                Clause("小金井市 特記事項 第6条⑴", "電磁記録媒体で持ち出す場合の暗号化処理又は同等以上の保護措置"),
            ),
            "toyota": (
                Clause("豊田市 特記事項 第10条⑪", "外部記録媒体に保管して持ち出す場合は暗号化又はパスワード設定"),
                Clause("豊田市 特記事項 第10条(6)", "電子データで移送するときは暗号化処理又は同等以上の保護措置"),
            ),
            "shinagawa": (Clause("品川区 特記事項 第14", "磁気ファイル等は専用ケースに収納し事故防止を講じて搬送"),),
        },
    ),
    "credential-attack": RuleFacts(
        P_("rule.credential-attack", "burst of failed logins (credential attack)"),
        clauses={
            "okayama": (_OKAYAMA_SAFETY,),
            "chiba": (_CHIBA_SAFETY,),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (_KOGANEI_SAFETY,),
            "toyota": (Clause("豊田市 特記事項 第10条④", "利用者を特定できるID、トークン等による本人認証"),),
            "shinagawa": (_SHINAGAWA_ACCESS,),
        },
    ),
    "scope-violation": RuleFacts(
        P_("rule.scope-violation", "access outside the contracted data scope"),
        clauses={
            "okayama": (Clause("岡山市 覚書 第8条", "契約の目的以外の目的のための利用の禁止"),),
            "chiba": (
                Clause("千葉市 特記事項 第6", "発注者の指示又は承諾があるときを除く目的外の使用の禁止"),
                _CHIBA_SAFETY,
            ),
            "yachiyo": (
                Clause("八千代市 取扱事項 第5条", "委託者の指示又は承諾がある場合を除く目的外の使用の禁止"),
                Clause("八千代市 取扱事項 第2条", "受託者が取り扱う個人情報の項目"),
            ),
            "koganei": (Clause("小金井市 特記事項 第4条", "本業務以外の目的での利用の禁止"),),
            "toyota": (Clause("豊田市 特記事項 第10条(2)", "作業責任者等に与えるアクセス権限は必要な最小限度"),),
            "shinagawa": (Clause("品川区 特記事項 第8", "委託された業務以外の目的での使用の禁止"), _SHINAGAWA_ACCESS),
        },
    ),
    "post-contract-access": RuleFacts(
        P_("rule.post-contract-access", "access after the contract ended"),
        clauses={
            "okayama": (
                Clause("岡山市 覚書 第14条", "保有する必要がなくなったときの確実かつ速やかな返却、廃棄又は消去"),
            ),
            "chiba": (Clause("千葉市 特記事項 第11", "契約の終了後直ちに資料等を返還し、又は引き渡す"),),
            "yachiyo": (Clause("八千代市 取扱事項 第4条", "業務完了後直ちに提供資料を返還"),),
            "koganei": (Clause("小金井市 特記事項 第17条", "本業務の終了時の返還又は廃棄"),),
            "toyota": (Clause("豊田市 特記事項 第16条", "対象業務を終了したときの個人情報等の返却"),),
            "shinagawa": (Clause("品川区 特記事項 第13", "業務を終了したときは直ちに甲に返還"),),
        },
    ),
    "system-outage": RuleFacts(
        P_("rule.system-outage", "system outage"),
        clauses={
            "okayama": (_OKAYAMA_SAFETY,),
            "chiba": (
                _CHIBA_SAFETY,
                Clause("千葉市 特記事項 第13", "事故発生時における報告（速やかに報告し指示に従う）"),
            ),
            "yachiyo": (
                _YACHIYO_SAFETY,
                Clause("八千代市 取扱事項 第8条", "事故発生時の報告義務（速やかに報告し指示に従う）"),
            ),
            "koganei": (
                Clause(
                    "小金井市 特記事項 第19条第2項",
                    "緊急時対応計画（連絡、証拠保全、被害拡大の防止、復旧及び再発防止）",
                ),
            ),
            "toyota": (
                Clause(
                    "豊田市 特記事項 第13条",
                    "システム停止事故（対象業務に係るシステムの機能の全部又は一部が停止する事故）",
                ),
                Clause("豊田市 特記事項 第13条②", "直ちに事故の発生状況を書面により報告し甲の指示に従う"),
            ),
            "shinagawa": (Clause("品川区 特記事項 第11", "個人情報の消滅、き損等の事故の防止"),),
        },
    ),
    "log-tampering": RuleFacts(
        P_("rule.log-tampering", "tampering with the access log"),
        clauses={
            "okayama": (_OKAYAMA_SAFETY,),
            "chiba": (_CHIBA_SAFETY,),
            "yachiyo": (_YACHIYO_SAFETY,),
            "koganei": (
                Clause("小金井市 特記事項 第7条⑸", "個人情報の利用者その他の取扱いの状況を台帳に記録"),
                _KOGANEI_SAFETY,
            ),
            "toyota": (
                Clause(
                    "豊田市 特記事項 第10条(10)", "個人情報等の漏えい等の事故の防止、真正性、見読性及び保存性の維持"
                ),
                Clause("豊田市 特記事項 第10条⑥", "アクセスログを取得し、個人情報等を返却するまで残す"),
            ),
            "shinagawa": (_SHINAGAWA_ACCESS, Clause("品川区 特記事項 第11", "個人情報の消滅、き損等の事故の防止")),
        },
    ),
}


# What each jurisdiction's emergency clause calls an event that concerns personal data.
_CLAUSE_NATURE: dict[str, EventNature] = {
    "okayama": "breach",  # 第15条 この契約に基づく保有個人情報に関する事項に違反する事態
    "chiba": "breach",  # 第13 この個人情報取扱特記事項に違反する事態
    "yachiyo": "breach",  # 第8条 この事項に違反する事態
    "koganei": "leak",  # 第19条 個人情報の漏えい等の事故
    "toyota": "leak",  # 第13条 個人情報等の漏えい等の事故
    "shinagawa": "accident",  # 第17 事故
}
# Filed kinds and rules whose event is a stopped system, whatever the city's clause calls a data event.
_OUTAGE_KINDS = frozenset({"system_outage"})
_OUTAGE_RULES = frozenset({"system-outage"})


def data_event_nature(jurisdiction: str) -> EventNature:
    """What ``jurisdiction``'s clause calls an event that concerns personal data (a baseline run: a leak)."""
    return _CLAUSE_NATURE.get(jurisdiction, "leak")


def event_nature(jurisdiction: str, kind: str, rules: tuple[str, ...] | list[str]) -> EventNature:
    """The event's nature under ``jurisdiction``'s clause, from the incident's filed ``kind`` and its ``rules``.

    A complaint is a complaint; a stopped system (the ``system-outage`` rule
    alone, or a filed ``system_outage``) is an outage; anything else concerns
    personal data and is what the city's clause calls such an event. A
    jurisdiction without a clause of its own (a baseline run) is a leak.
    """
    if kind == "complaint":
        return "complaint"
    if kind in _OUTAGE_KINDS or (rules and all(r in _OUTAGE_RULES for r in rules)):
        return "outage"
    return data_event_nature(jurisdiction)
