"""Connection and sampling settings of the chat model.

:meth:`LLMSettings.from_env` is called once, at the edge (``ui/resources.py`` or a script); the
rest of the code receives the values as arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_BASE_URL = "http://localhost:1234/v1"  # LM Studio's local server
DEFAULT_API_KEY = "lm-studio"  # local servers accept any key; the client requires one


@dataclass(frozen=True)
class Sampling:
    """What the sidebar changes per browser session."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    #: Penalises tokens by how often they already appeared: small local models loop without it.
    frequency_penalty: float = 0.5
    presence_penalty: float = 0.0


@dataclass(frozen=True)
class LLMSettings:
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)  # keys never reach logs or the UI
    openai_api_key: str | None = field(default=None, repr=False)  # used for api.openai.com only
    model: str | None = None  # None: the first model the server lists
    context_window: int = 4096  # tokens the prompt and the reply must fit in
    #: Whether LLM_CONTEXT_WINDOW is set: it is then used when the server does not say its context.
    context_window_configured: bool = False
    timeout: float = 120.0  # seconds to wait for the server between two pieces of a reply
    load_timeout: float = 600.0  # seconds to wait for a reply's first piece (the server may load the model)
    builtin_fallback: bool = True  # start the built-in model when the server does not answer
    builtin_port: int = 1235
    sampling: Sampling = Sampling()  # the sidebar's starting values

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMSettings:
        env = os.environ if env is None else env
        return cls(
            base_url=env.get("LLM_BASE_URL") or DEFAULT_BASE_URL,
            api_key=env.get("LLM_API_KEY") or DEFAULT_API_KEY,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            model=env.get("LLM_MODEL") or None,
            context_window=int(env.get("LLM_CONTEXT_WINDOW") or 4096),
            context_window_configured=bool(env.get("LLM_CONTEXT_WINDOW")),
            timeout=float(env.get("LLM_TIMEOUT") or 120),
            load_timeout=float(env.get("LLM_LOAD_TIMEOUT") or 600),
            builtin_fallback=(env.get("LLM_BUILTIN_FALLBACK") or "true").lower() in {"1", "true", "yes"},
            builtin_port=int(env.get("LLM_BUILTIN_PORT") or 1235),
            sampling=Sampling(
                temperature=float(env.get("LLM_TEMPERATURE") or Sampling.temperature),
                top_p=float(env.get("LLM_TOP_P") or Sampling.top_p),
                max_tokens=int(env.get("LLM_MAX_TOKENS") or Sampling.max_tokens),
                frequency_penalty=float(env.get("LLM_FREQUENCY_PENALTY") or Sampling.frequency_penalty),
                presence_penalty=float(env.get("LLM_PRESENCE_PENALTY") or Sampling.presence_penalty),
            ),
        )
