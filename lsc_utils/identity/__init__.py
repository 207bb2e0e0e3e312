"""Identity resolution across sources: one person behind the accounts of several channels.

* ``normalize``: identifier normalisation (phones to E.164, e-mails, device / login / membership ids)
  and keyed identifier hashes;
* ``linkage``: probabilistic record linkage with Splink (Fellegi–Sunter, EM-trained, DuckDB);
* ``resolve``: deterministic stitching over shared identifiers plus Splink links, clustered as connected
  components in SQL → ``person_id`` of every account, with the ledger;
* ``integrate``: several canonical source datasets → one person-level canonical dataset;
* ``report``: ledger, cluster sizes, channel overlap, quality against planted persons, account view.
"""

from lsc_utils.identity.integrate import IDENTITY_DIR, Integration, integrate_sources
from lsc_utils.identity.linkage import (
    ACCOUNT_SPEC,
    DEFAULT_MATCH_PROBABILITY,
    FEBRL_SPEC,
    LinkageSpec,
    linkage_settings,
    pair_quality,
    predict_links,
    train_linker,
)
from lsc_utils.identity.normalize import (
    ID_COLUMNS,
    STRONG_ID_TYPES,
    identifier_hash,
    identifier_table,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    normalize_token,
    phone_tail,
)
from lsc_utils.identity.report import (
    account_ledger,
    account_view_events,
    cluster_sizes,
    largest_persons,
    linkage_quality,
    read_identity_report,
    source_combinations,
)
from lsc_utils.identity.resolve import (
    DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER,
    RULES,
    Resolution,
    linkage_records,
    resolve_persons,
)

__all__ = [
    "ACCOUNT_SPEC",
    "DEFAULT_MATCH_PROBABILITY",
    "DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER",
    "FEBRL_SPEC",
    "IDENTITY_DIR",
    "ID_COLUMNS",
    "RULES",
    "STRONG_ID_TYPES",
    "Integration",
    "LinkageSpec",
    "Resolution",
    "account_ledger",
    "account_view_events",
    "cluster_sizes",
    "identifier_hash",
    "identifier_table",
    "integrate_sources",
    "largest_persons",
    "linkage_records",
    "linkage_quality",
    "linkage_settings",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
    "normalize_token",
    "pair_quality",
    "phone_tail",
    "predict_links",
    "read_identity_report",
    "resolve_persons",
    "source_combinations",
    "train_linker",
]
