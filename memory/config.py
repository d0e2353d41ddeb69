"""Where the memory store lives, read once from the environment (``.env`` included)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PATH = "data/chroma"


@dataclass(frozen=True)
class StoreConfig:
    path: str = DEFAULT_PATH  # embedded store (used when host is not set)
    host: str | None = None  # a `chroma run` server
    port: int = 8000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreConfig:
        env = os.environ if env is None else env
        return cls(
            path=env.get("CHROMA_PATH") or DEFAULT_PATH,
            host=env.get("CHROMA_HOST") or None,
            port=int(env.get("CHROMA_PORT") or 8000),
        )
