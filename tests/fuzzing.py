"""How hard the property tests search: each test's full number of examples in `make test`, a
fraction of it in `make test-fast` (``FUZZ_SCALE=0.2``), which is for a quick check while coding."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import settings


def fuzz(max_examples: int, **options: Any) -> settings:
    """``hypothesis.settings(max_examples=…)`` scaled by ``FUZZ_SCALE`` (at least 10 examples)."""
    scale = float(os.environ.get("FUZZ_SCALE") or 1)
    return settings(max_examples=max(10, round(max_examples * scale)), **options)
