"""lsc_utils: shared logic of the LSC Lab notebook collection for live-streaming-commerce analytics."""

from __future__ import annotations

__version__ = "0.1.0"
