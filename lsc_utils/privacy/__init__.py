"""Privacy: the release gate of a run (notebook 10).

* :mod:`~lsc_utils.privacy.detect`: PII detection in free text and released tables (NFKC, checksums);
* :mod:`~lsc_utils.privacy.risk`: k-anonymity, l-diversity, t-closeness, unique share, linkage attack;
* :mod:`~lsc_utils.privacy.generalise`: hierarchies and the least-loss generalisation reaching k;
* :mod:`~lsc_utils.privacy.dp`: OpenDP Laplace aggregates and the privacy-budget ledger;
* :mod:`~lsc_utils.privacy.governance`: consent audit, erasure, retention, allow-list;
* :mod:`~lsc_utils.privacy.release`: the release table and the ``release/`` folder;
* :mod:`~lsc_utils.privacy.leaks`: the canary leak scan of a folder.

The keyed pseudonyms and the key they need live in :mod:`lsc_utils.pii` and are re-exported here.
"""

from lsc_utils.pii import (
    DEFAULT_KEY_FILE,
    KEY_ENV,
    KEY_FILE_ENV,
    MIN_KEY_LENGTH,
    key_file_path,
    key_fingerprint,
    load_pseudonym_key,
    pseudonymize,
)
from lsc_utils.privacy.detect import (
    DETECTED_KINDS,
    detection_scores,
    luhn_valid,
    normalise,
    resident_id_valid,
    scan_table,
    scan_texts,
)
from lsc_utils.privacy.dp import (
    PrivacyBudgetExceeded,
    PrivacyLedger,
    bounded_cell_counts,
    dp_cell_counts,
    dp_group_stats,
    epsilon_spent,
    laplace_noise,
    scale_for,
    utility_curve,
)
from lsc_utils.privacy.generalise import (
    CHINA_REGIONS,
    Anonymised,
    Hierarchy,
    anonymise,
    band_hierarchy,
    date_hierarchy,
    flat_hierarchy,
    mapping_hierarchy,
    prefix_hierarchy,
    region_hierarchy,
    share_shift,
)
from lsc_utils.privacy.governance import (
    ERASURE_LOG,
    allowlist_violations,
    consent_audit,
    erase_user,
    erased_pseudonyms,
    retention_counts,
)
from lsc_utils.privacy.leaks import TEXT_SUFFIXES, find_leaks, literal_trie_pattern
from lsc_utils.privacy.release import check_row, releasable, release_table, write_release
from lsc_utils.privacy.risk import (
    class_sizes,
    entropy_l_diversity,
    k_anonymity,
    l_diversity,
    linkage_attack,
    risk_summary,
    t_closeness,
    unique_share,
)

__all__ = [
    "CHINA_REGIONS",
    "DEFAULT_KEY_FILE",
    "DETECTED_KINDS",
    "ERASURE_LOG",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MIN_KEY_LENGTH",
    "TEXT_SUFFIXES",
    "Anonymised",
    "Hierarchy",
    "PrivacyBudgetExceeded",
    "PrivacyLedger",
    "allowlist_violations",
    "anonymise",
    "band_hierarchy",
    "bounded_cell_counts",
    "check_row",
    "class_sizes",
    "consent_audit",
    "date_hierarchy",
    "detection_scores",
    "dp_cell_counts",
    "dp_group_stats",
    "entropy_l_diversity",
    "epsilon_spent",
    "erase_user",
    "erased_pseudonyms",
    "find_leaks",
    "flat_hierarchy",
    "k_anonymity",
    "key_file_path",
    "key_fingerprint",
    "l_diversity",
    "laplace_noise",
    "linkage_attack",
    "literal_trie_pattern",
    "load_pseudonym_key",
    "luhn_valid",
    "mapping_hierarchy",
    "normalise",
    "prefix_hierarchy",
    "pseudonymize",
    "region_hierarchy",
    "releasable",
    "release_table",
    "resident_id_valid",
    "retention_counts",
    "risk_summary",
    "scale_for",
    "scan_table",
    "scan_texts",
    "share_shift",
    "t_closeness",
    "unique_share",
    "utility_curve",
    "write_release",
]
