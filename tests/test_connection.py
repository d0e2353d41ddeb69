"""The fallback policy (pure logic, ``llm.connection``): the configured server, else the built-in
model; a server the user typed gets its error instead."""

from __future__ import annotations

from llm.connection import connect
from llm.errors import NoModelLoaded, OnlyEmbeddingModels, ServerUnavailable
from llm.servers import ModelInfo, ServerInfo
from llm.settings import LLMSettings

SETTINGS = LLMSettings(base_url="http://localhost:1234/v1")
BUILTIN = "http://127.0.0.1:1235/v1"
SERVED = ServerInfo("llamacpp", [ModelInfo("smollm2", "llm", True)], model="smollm2")


def probe_of(answers: dict[str, ServerInfo | Exception]):
    asked: list[str] = []

    def probe(base_url: str, api_key: str, model: str | None) -> ServerInfo:
        asked.append(base_url)
        answer = answers[base_url]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return probe, asked


def test_the_configured_server_when_it_answers() -> None:
    probe, asked = probe_of({SETTINGS.base_url: SERVED})
    link = connect(SETTINGS.base_url, SETTINGS, None, probe, start_builtin=lambda: BUILTIN)
    assert (link.base_url, link.models, link.error, link.note) == (SETTINGS.base_url, ["smollm2"], None, None)
    assert asked == [SETTINGS.base_url]


def test_the_built_in_model_when_the_configured_server_is_down() -> None:
    probe, asked = probe_of({SETTINGS.base_url: ServerUnavailable(SETTINGS.base_url), BUILTIN: SERVED})
    link = connect(SETTINGS.base_url, SETTINGS, None, probe, start_builtin=lambda: BUILTIN)
    assert link.base_url == BUILTIN and link.models == ["smollm2"] and "built-in model" in (link.note or "")
    assert asked == [SETTINGS.base_url, BUILTIN]


def test_a_typed_server_that_is_down_gets_its_error_not_the_fallback() -> None:
    typed = "http://localhost:8080/v1"
    probe, asked = probe_of({typed: ServerUnavailable(typed)})
    link = connect(typed, SETTINGS, None, probe, start_builtin=lambda: BUILTIN)
    assert isinstance(link.error, ServerUnavailable) and link.models == [] and asked == [typed]


def test_no_fallback_when_it_is_turned_off_or_for_other_errors() -> None:
    off = LLMSettings(base_url=SETTINGS.base_url, builtin_fallback=False)
    probe, _ = probe_of({SETTINGS.base_url: ServerUnavailable(SETTINGS.base_url)})
    assert isinstance(connect(SETTINGS.base_url, off, None, probe, lambda: BUILTIN).error, ServerUnavailable)
    probe, _ = probe_of({SETTINGS.base_url: NoModelLoaded(SETTINGS.base_url)})
    assert isinstance(connect(SETTINGS.base_url, SETTINGS, None, probe, lambda: BUILTIN).error, NoModelLoaded)


def test_a_built_in_model_that_fails_to_start_says_so() -> None:
    probe, _ = probe_of({SETTINGS.base_url: ServerUnavailable(SETTINGS.base_url)})

    def broken() -> str:
        raise RuntimeError("model file missing")

    link = connect(SETTINGS.base_url, SETTINGS, None, probe, start_builtin=broken)
    assert isinstance(link.error, ServerUnavailable) and "model file missing" in (link.note or "")


def test_only_embedding_models_is_an_error() -> None:
    embeddings = ServerInfo("lmstudio", [ModelInfo("text-embedding-nomic-embed-text-v1.5", "embeddings", True)])
    probe, _ = probe_of({SETTINGS.base_url: embeddings})
    link = connect(SETTINGS.base_url, SETTINGS, None, probe, lambda: BUILTIN)
    assert isinstance(link.error, OnlyEmbeddingModels) and link.models == []
