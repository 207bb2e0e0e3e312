"""Parameter checks shared by the analysis modules; messages name the parameter, its owner and the value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_int(value: Any, name: str, owner: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an int >= ``minimum`` (bools refused), else raise a ValueError.

    Example message: ``The 'min_support' parameter of frequent_paths must be an int >= 1. Got 0 instead.``
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_choice(value: Any, name: str, owner: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {', '.join(map(repr, choices))}. Got {value!r} instead."
        )
    return str(value)
