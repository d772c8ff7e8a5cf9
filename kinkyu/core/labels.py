# no copyright header in this project; Japanese text uses full-width punctuation
"""Japanese and English names for the categories reports may mention.

Reports name categories (which items, what kind of incident, which rule),
never the personal information itself. Unknown names are shown as given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kinkyu.core.rulebook import EVENT_NATURES, PERSONAL_DATA_NATURES, RULES

if TYPE_CHECKING:
    from collections.abc import Iterable

# Personal-information item names (events.md ``resource.fields`` / ``data_items``).
ITEM_LABELS: dict[str, tuple[str, str]] = {
    "name": ("氏名", "name"),
    "address": ("住所", "address"),
    "birthdate": ("生年月日", "date of birth"),
    "sex": ("性別", "sex"),
    "phone": ("電話番号", "phone number"),
    "email": ("メールアドレス", "e-mail address"),
    "my_number": ("個人番号（マイナンバー）", "My Number (individual number)"),
    "card_number": ("クレジットカード番号", "credit card number"),
    "credit_card": ("クレジットカード情報", "credit card details"),
    "credit_card_number": ("クレジットカード番号", "credit card number"),
    "bank_account": ("口座情報", "bank account details"),
    "bank_account_number": ("口座番号", "bank account number"),
    "payment_credentials": ("決済サービスのID・パスワード", "payment service login credentials"),
    "health": ("健康診断等の結果", "health check results"),
    "medical": ("診療・調剤の情報", "medical treatment information"),
    "medical_history": ("病歴", "medical history"),
    "disability": ("障害に関する情報", "disability information"),
    "criminal_record": ("犯罪の経歴", "criminal record"),
    "criminal_proceedings": ("刑事手続に関する情報", "criminal proceedings"),
    "juvenile_proceedings": ("少年保護事件に関する情報", "juvenile proceedings"),
    "victim_of_crime": ("犯罪被害の事実", "having been a victim of crime"),
    "race": ("人種", "race"),
    "creed": ("信条", "creed"),
    "religion": ("宗教", "religion"),
    "social_status": ("社会的身分", "social status"),
    "tax": ("税情報", "tax information"),
    "income": ("所得情報", "income information"),
    "benefits": ("給付・手当の情報", "benefit information"),
    "family": ("世帯・家族の情報", "household and family information"),
    "waon_number": ("WAON番号", "WAON number"),
}

# Incident kinds (events.md) and "detection" (an incident opened by a finding).
KIND_LABELS: dict[str, tuple[str, str]] = {
    "leak": ("漏えい", "leak"),
    "loss": ("滅失・紛失", "loss"),
    "misdelivery": ("誤送付・誤送信", "misdelivery"),
    "unauthorized_access": ("不正アクセス", "unauthorised access"),
    "tampering": ("改ざん・毀損", "tampering"),
    "system_outage": ("システム停止", "system outage"),
    "complaint": ("苦情による判明", "complaint"),
    "other": ("その他", "other"),
    "detection": ("アクセスログ監視による検知", "detected by access-log monitoring"),
}

# The event's nature under the city's clause (kinkyu.core.rulebook.EventNature), and its possible form.
NATURE_LABELS: dict[str, tuple[str, str]] = {
    "leak": ("個人情報の漏えい等の事故", "leak or other accident involving personal information"),
    "accident": ("個人情報に関する事故", "incident involving personal information"),
    "outage": ("システム停止事故", "system outage"),
    "breach": ("契約違反", "breach of the contract's personal-information terms"),
    "complaint": ("苦情", "complaint"),
}


# The natures that are no 漏えい等 of personal data (no PPC report is assessed for them).
NOT_PERSONAL_DATA: frozenset[str] = frozenset(EVENT_NATURES) - PERSONAL_DATA_NATURES


def nature_label(nature: str, *, possible: bool) -> tuple[str, str]:
    """The nature's Japanese and English words; a possible one (おそれ) says so."""
    ja, en = NATURE_LABELS.get(nature, (nature, nature))
    return (f"{ja}のおそれ", f"possible {en}") if possible and nature != "complaint" else (ja, en)


# Incident severities (kinkyu.core.model.Severity), as mail, reports and the console show them.
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "low": ("低", "low"),
    "medium": ("中", "medium"),
    "high": ("高", "high"),
    "critical": ("重大", "critical"),
}

# Detection rules (shared/spec/rules.md).
RULE_LABELS: dict[str, tuple[str, str]] = {rule: (facts.label_ja, facts.label_en) for rule, facts in RULES.items()}


def _label(table: dict[str, tuple[str, str]], key: str) -> tuple[str, str]:
    return table.get(key, (key, key))


def item_labels(items: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the Japanese and English labels of ``items``, in a stable (sorted by name) order."""
    pairs = [_label(ITEM_LABELS, i) for i in sorted(set(items))]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def kind_label(kind: str) -> tuple[str, str]:
    """Return the Japanese and English label of an incident kind."""
    return _label(KIND_LABELS, kind)


def rule_label(rule: str) -> tuple[str, str]:
    """Return the Japanese and English label of a detection rule id."""
    return _label(RULE_LABELS, rule)
