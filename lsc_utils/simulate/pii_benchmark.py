"""A labelled PII benchmark written to ``truth/pii_benchmark.parquet``: planted PII and look-alikes.

Every text carries at most one value. Positives cover every kind the release scan knows: valid
resident ids (GB 11643 check character), Luhn-valid card numbers of the main networks, e-mails,
Chinese mobiles (some in full-width digits), WeChat and QQ ids after a keyword, English-style phone
numbers and street addresses (English and Chinese). Negative controls look like PII but are not:
order ids, millisecond timestamps, prices, dates, resident ids with a wrong check character or an
impossible birth date, card numbers failing Luhn. The benchmark draws from its own seed (the sixth
child of the simulation's seed), so no other table changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsc_utils.checks import RESIDENT_ID_CHECK, resident_id_check_character

REGIONS = ("110105", "310115", "440305", "510104", "330106", "320102")
CARD_PREFIXES = ("4", "51", "55", "62", "6011", "37")
STREETS_EN = ("Baker Street", "Main Street", "Oak Avenue", "Elm Road", "Park Lane", "Sunset Boulevard")
ADDRESSES_ZH = ("上海市浦东新区世纪大道{n}号", "北京市朝阳区建国路{n}号", "广东省深圳市南山区科技路{n}号")
TEMPLATES = {
    "RESIDENT_ID": ("身份证号 {v} 请核对", "my ID is {v}"),
    "BANK_CARD": ("打款到卡号 {v} 谢谢", "card {v} pls refund"),
    "EMAIL": ("email me at {v}", "邮箱 {v} 发我"),
    "PHONE_CN": ("电话 {v} 联系我", "call {v} for wholesale"),
    "WECHAT": ("加微信 {v} 拿货", "add wechat: {v}"),
    "QQ": ("QQ号 {v} 私聊", "扣扣 {v}"),
    "PHONE_INTL": ("call me on {v}", "text {v} after 6pm"),
    "ADDRESS": ("ship to {v}", "寄到 {v}"),
}
NEGATIVE_TEMPLATES = ("订单号 {v} 已发货", "order {v} arrived", "at {v} the stream starts", "only {v} today")


def resident_id(rng: np.random.Generator, valid: bool = True) -> str:
    """A resident id with a real birth date and the right (or, when not ``valid``, a wrong) check character."""
    birth = pd.Timestamp("1950-01-01") + pd.Timedelta(days=int(rng.integers(0, 20000)))
    body = f"{REGIONS[rng.integers(len(REGIONS))]}{birth:%Y%m%d}{rng.integers(0, 1000):03d}"
    check = resident_id_check_character(body)
    if not valid:
        check = RESIDENT_ID_CHECK[(RESIDENT_ID_CHECK.index(check) + 1 + rng.integers(0, 10)) % 11]
    return body + check


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, c in enumerate(reversed(partial)):
        d = int(c)
        if i % 2 == 0:
            d = sum(divmod(2 * d, 10))
        total += d
    return str((10 - total % 10) % 10)


def card_number(rng: np.random.Generator, valid: bool = True) -> str:
    """A 16-digit (15 for Amex) card number with a network prefix, Luhn-valid or not, grouped by 4 half the time."""
    prefix = CARD_PREFIXES[rng.integers(len(CARD_PREFIXES))]
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(str(d) for d in rng.integers(0, 10, size=length - len(prefix) - 1))
    check = _luhn_digit(body)
    if not valid:
        check = str((int(check) + 1 + rng.integers(0, 9)) % 10)
    number = body + check
    if length == 16 and rng.random() < 0.5:
        number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


def positive(kind: str, rng: np.random.Generator) -> str:
    """One planted value of ``kind``."""
    if kind == "RESIDENT_ID":
        return resident_id(rng)
    if kind == "BANK_CARD":
        return card_number(rng)
    if kind == "EMAIL":
        user = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(4, 10))))
        return f"{user}{rng.integers(10, 999)}@{('qq.com', '163.com', 'gmail.com', 'example.org')[rng.integers(4)]}"
    if kind == "PHONE_CN":
        number = f"1{rng.integers(3, 10)}{rng.integers(0, 10)}{rng.integers(0, 10**8):08d}"
        return _full_width(number) if rng.random() < 0.3 else number
    if kind == "WECHAT":
        return "wx_" + "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), size=8))
    if kind == "QQ":
        return str(rng.integers(10**5, 10**10))
    if kind == "PHONE_INTL":
        area, mid, last = rng.integers(201, 990), rng.integers(200, 999), rng.integers(0, 10**4)
        forms = (f"({area}) {mid}-{last:04d}", f"{area}-{mid}-{last:04d}", f"+44 20 {mid}4 {last:04d}")
        return forms[rng.integers(len(forms))]
    if kind == "ADDRESS":
        if rng.random() < 0.5:
            return f"{rng.integers(1, 2000)} {STREETS_EN[rng.integers(len(STREETS_EN))]}"
        return ADDRESSES_ZH[rng.integers(len(ADDRESSES_ZH))].format(n=rng.integers(1, 999))
    raise ValueError(f"unknown PII kind {kind}")


def negative(rng: np.random.Generator) -> tuple[str, str]:
    """A look-alike value and what it is."""
    choice = rng.integers(7)
    if choice == 0:
        return f"{rng.integers(2024, 2027)}{rng.integers(10**12, 10**13)}", "order_id"
    if choice == 1:
        return str(rng.integers(1_700_000_000_000, 1_800_000_000_000)), "timestamp_ms"
    if choice == 2:
        return f"¥{rng.integers(9, 9999)}.{rng.integers(0, 100):02d}", "price"
    if choice == 3:
        return f"2026-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d} {rng.integers(0, 24):02d}:00", "datetime"
    if choice == 4:
        return resident_id(rng, valid=False), "resident_id_bad_check"
    if choice == 5:
        return f"{REGIONS[0]}1990{rng.integers(13, 20)}{rng.integers(1, 28):02d}123X", "resident_id_bad_date"
    return card_number(rng, valid=False), "card_failing_luhn"


def pii_benchmark(rng: np.random.Generator, per_kind: int = 60, negatives: int = 400) -> pd.DataFrame:
    """The labelled texts: ``text, kind`` (null for a negative control), ``value``, ``control``."""
    rows = []
    for kind, templates in TEMPLATES.items():
        for _ in range(per_kind):
            value = positive(kind, rng)
            rows.append((templates[rng.integers(len(templates))].format(v=value), kind, value, None))
    for _ in range(negatives):
        value, what = negative(rng)
        rows.append((NEGATIVE_TEMPLATES[rng.integers(len(NEGATIVE_TEMPLATES))].format(v=value), None, value, what))
    frame = pd.DataFrame(rows, columns=["text", "kind", "value", "control"])
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True).astype("str").replace("None", pd.NA)
