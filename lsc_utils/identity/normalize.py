"""Identifier normalisation and keyed identifier hashes.

Raw identifiers arrive in every spelling a channel produces: ``+86 138-0013-8000``, ``13800138000``
and full-width ``１３８００１３８０００`` are one phone; ``Li.Wei@QQ.com `` and ``li.wei@qq.com`` are one
e-mail. Each identifier type has one normaliser (vectorized pandas string operations, no Python loop
per row) that maps the spellings of one identifier to one canonical text, or to null when the value
is not a usable identifier of its type. The canonical text is then replaced by a keyed hash
(HMAC-SHA256 with the project's pseudonym key, see :mod:`lsc_utils.pii`), salted with the identifier
type, so identifiers are linked without ever being written in clear, and a hash cannot be reversed by
hashing candidate phone numbers without the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from lsc_utils.pii import pseudonymize

FULL_WIDTH = str.maketrans({chr(0xFF10 + d): str(d) for d in range(10)} | {"＋": "+", "－": "-", "　": " "})
"""Full-width digits, plus sign, hyphen and ideographic space mapped to their ASCII forms."""

CHINA_COUNTRY_CODE = "86"
"""Country code assumed for 11-digit Chinese mobile numbers written without one."""

ID_HASH_PREFIX = "id_"
"""Prefix of a keyed identifier hash."""

STRONG_ID_TYPES: tuple[str, ...] = ("phone", "email", "login", "member")
"""Identifier types that identify one person when two accounts share them (deterministic stitching).
A device id is weaker (a family tablet is shared), so it is only evidence for probabilistic linkage."""

ID_COLUMNS: dict[str, str] = {
    "phone": "phone",
    "email": "email",
    "device_id": "device",
    "login_id": "login",
    "member_id": "member",
}
"""Raw identifier column of a source's ``users`` table → identifier type."""


def _ascii_text(values: pd.Series) -> pd.Series:
    """Strings with full-width characters mapped to ASCII and outer whitespace stripped; nulls kept."""
    text = values.astype("str").str.translate(FULL_WIDTH).str.strip()
    return text.where(values.notna() & (text != ""))


def normalize_phone(values: pd.Series) -> pd.Series:
    """Phone numbers in E.164 form (``+8613800138000``), or null when the value is not a phone.

    Full-width digits become ASCII; spaces, hyphens, dots and brackets are dropped; a leading ``00``
    is an international prefix (``0086…`` → ``+86…``); an 11-digit number starting with ``1`` (a
    Chinese mobile number) without a country code gets ``+86``. A number with a ``+`` keeps its
    country code. Anything with letters, or with fewer than 7 or more than 15 digits, is null.
    """
    text = _ascii_text(values).str.replace(r"[\s\-.()/]", "", regex=True)
    text = text.str.replace(r"^00", "+", regex=True)
    plus = text.str.startswith("+").fillna(False).astype(bool)
    digits = text.str.lstrip("+")
    valid = digits.str.fullmatch(r"[0-9]{7,15}").fillna(False).astype(bool)
    cn_mobile = ~plus & digits.str.fullmatch(r"1[3-9][0-9]{9}").fillna(False).astype(bool)
    cn_with_code = ~plus & digits.str.fullmatch(rf"{CHINA_COUNTRY_CODE}1[3-9][0-9]{{9}}").fillna(False).astype(bool)
    international = "+" + digits
    out = international.where(plus | cn_with_code, ("+" + CHINA_COUNTRY_CODE + digits).where(cn_mobile, digits))
    return out.where(valid).astype("str")  # a local number of another country stays as its digits


def normalize_email(values: pd.Series) -> pd.Series:
    """E-mail addresses trimmed and lower-cased, or null when the value is not ``local@domain.tld``."""
    text = _ascii_text(values).str.lower()
    valid = text.str.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}").fillna(False).astype(bool)
    return text.where(valid).astype("str")


def normalize_token(values: pd.Series) -> pd.Series:
    """Device, login and membership ids: ASCII, trimmed, lower-cased; empty or placeholder values null."""
    text = _ascii_text(values).str.lower()
    placeholder = text.isin(["0", "null", "none", "nan", "unknown", "-", "n/a"])
    return text.where(~placeholder).astype("str")


NORMALIZERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "phone": normalize_phone,
    "email": normalize_email,
    "device": normalize_token,
    "login": normalize_token,
    "member": normalize_token,
}
"""Normaliser of every identifier type."""


def normalize_identifier(values: pd.Series, id_type: str) -> pd.Series:
    """Normalise raw identifiers of one type (see :data:`NORMALIZERS`); unknown types are trimmed tokens."""
    return NORMALIZERS.get(id_type, normalize_token)(values)


def identifier_hash(values: pd.Series, id_type: str, key: bytes) -> pd.Series:
    """Keyed hash ``id_`` + HMAC-SHA256(key, ``type:value``) of normalised identifiers; nulls stay null.

    The type salts the hash, so a login id that happens to equal a phone number does not link them.
    """
    return pseudonymize(id_type + ":" + values, key, prefix=ID_HASH_PREFIX, length=24)


def phone_tail(values: pd.Series, digits: int = 4) -> pd.Series:
    """The last ``digits`` digits of normalised phones: a masked fragment usable as linkage evidence."""
    return normalize_phone(values).str[-digits:]


def identifier_table(
    accounts: pd.DataFrame, key: bytes, columns: Mapping[str, str] | None = None, source: str | None = None
) -> pd.DataFrame:
    """Long table of the hashed identifiers of accounts: one row per account, type and identifier.

    Parameters
    ----------
    accounts : pandas.DataFrame
        One row per account with ``account_id`` (and ``source`` unless given) and raw identifier columns.
    key : bytes
        Pseudonym key.
    columns : mapping, optional
        Raw column → identifier type; :data:`ID_COLUMNS` by default. Missing columns are skipped.
    source : str, optional
        Source name for every row, when ``accounts`` has no ``source`` column.

    Returns
    -------
    pandas.DataFrame
        ``account_id, source, id_type, id_hash`` (distinct rows; raw values never appear).
    """
    columns = dict(ID_COLUMNS if columns is None else columns)
    parts = []
    for column, id_type in columns.items():
        if column not in accounts.columns:
            continue
        normal = normalize_identifier(accounts[column], id_type)
        present = normal.notna()
        parts.append(
            pd.DataFrame(
                {
                    "account_id": accounts.loc[present, "account_id"].astype("str"),
                    "source": accounts.loc[present, "source"].astype("str") if source is None else source,
                    "id_type": id_type,
                    "id_hash": identifier_hash(normal[present], id_type, key),
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ("account_id", "source", "id_type", "id_hash")})
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True).astype("str")
