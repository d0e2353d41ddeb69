"""Where the memory store lives, read once from the environment (``.env`` included), and which
embedding model it uses."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


#: Which embedding model the store uses, saved beside the store (``embeddings.json``): a
#: switch made on the Memories page outlives the app process.
CHOICE_FILE = "embeddings.json"


@dataclass(frozen=True)
class EmbeddingChoice:
    """The memory's embedding model: the built-in MiniLM (``model`` None) or a model of an
    OpenAI-compatible server."""

    model: str | None = None
    base_url: str | None = None

    @property
    def builtin(self) -> bool:
        return self.model is None

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddingChoice:
        """The choice saved in ``folder`` (the store's), else the built-in model."""
        try:
            data = json.loads((Path(folder) / CHOICE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return cls()
        model, base_url = data.get("model"), data.get("base_url")
        if isinstance(model, str) and model and isinstance(base_url, str) and base_url:
            return cls(model, base_url)
        return cls()

    def save(self, folder: str | Path) -> None:
        path = Path(folder) / CHOICE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"model": self.model, "base_url": self.base_url}), "utf-8")
        os.replace(scratch, path)
