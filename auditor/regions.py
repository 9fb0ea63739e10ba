"""Azure region pairs as data (auditor/data/region_pairs.json): where GRS replicates each region."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

_PAIRS = Path(__file__).resolve().parent / "data" / "region_pairs.json"


@lru_cache(maxsize=1)
def paired_regions() -> dict[str, str]:
    return dict(json.loads(_PAIRS.read_text(encoding="utf-8"))["secondary"])


def paired_region(region: str | None) -> str | None:
    if not region:
        return None
    return paired_regions().get(region.replace(" ", "").lower())
