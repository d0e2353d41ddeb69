"""The errors of LM Studio, Ollama and llama.cpp mapped to what the user should do.

The server answers are the ones those servers send (each says where it was seen); they are fed to
:func:`llm.errors.explain` as the ``openai`` client raises them. The built-in llama.cpp server's
own overflow error is provoked for real in tests/test_servers_real.py.
"""

from __future__ import annotations

import httpx
import openai

from llm.errors import (
    ContextTooLong,
    EmptyReply,
    ModelUnavailable,
    NoModelLoaded,
    ServerError,
    explain,
)

URL = "http://localhost:1234/v1"
REQUEST = httpx.Request("POST", f"{URL}/chat/completions")


def status_error(status: int, body: object) -> openai.APIStatusError:
    """What the openai client raises for an HTTP error with this JSON body."""
    kind = {400: openai.BadRequestError, 404: openai.NotFoundError}[status]
    return kind("error", response=httpx.Response(status, request=REQUEST, json=body), body=body)


def test_lm_studio_with_no_model_loaded() -> None:
    # LM Studio's answer (HTTP 400) when no model is loaded and JIT loading is off.
    body = {"error": "No models loaded. Please load a model in the developer page or use the `lms load` command."}
    error = explain(status_error(400, body), URL, "qwen3-8b")
    assert type(error) is NoModelLoaded  # nothing is loaded: not "this model is gone"
    assert "No model is loaded on http://localhost:1234/v1" in str(error) and "lms load" in str(error)


def test_a_model_unloaded_between_two_requests() -> None:
    # A 404, or words saying the model is not found or not loaded (they vary by server and version;
    # Ollama's: 404 'model "x" not found, try pulling it first').
    for error in (
        explain(status_error(404, {"error": {"message": "Model not found", "type": "invalid_request_error"}}), URL,
                "qwen3-8b"),
        explain(status_error(404, {"error": {"message": 'model "qwen3-8b" not found, try pulling it first',
                                              "type": "api_error"}}), URL, "qwen3-8b"),
        explain(status_error(400, {"error": "Model qwen3-8b is not loaded"}), URL, "qwen3-8b"),
    ):  # fmt: skip
        assert isinstance(error, ModelUnavailable) and isinstance(error, NoModelLoaded)
        assert "'qwen3-8b' is not loaded on http://localhost:1234/v1" in str(error)
        assert "unloaded" in str(error) and "Refresh models" in str(error)
    assert type(explain(status_error(404, None), URL)) is NoModelLoaded  # no model named: nothing to blame


def test_lm_studio_overflow_keeps_the_loaded_context() -> None:
    # LM Studio's log and error for a prompt longer than the loaded context (seen in
    # github.com/cline/cline/issues/3664 and lmstudio-ai/lmstudio-bug-tracker#546).
    message = (
        "Trying to keep the first 10136 tokens when context the overflows. However, the model is loaded with "
        "context length of only 7866 tokens, which is not enough. Try to load the model with a larger context "
        "length, or provide a shorter input."
    )
    error = explain(status_error(400, {"error": message}), URL, "qwen2.5-coder-7b")
    assert isinstance(error, ContextTooLong)
    assert (error.n_ctx, error.n_prompt) == (7866, 10136)
    text = str(error)
    assert "loaded with a context length of 7,866 tokens" in text and "this prompt has 10,136" in text
    assert "context length of only 7866" in text  # the server's own words stay


def test_lm_studio_n_keep_overflow() -> None:
    # LM Studio 0.4 (github.com/Gitlawb/openclaude/issues/353): the body's "error" is a string.
    message = (
        "The number of tokens to keep from the initial prompt is greater than the context length (n_keep: 13055>= "
        "n_ctx: 4096). Try to load the model with a larger context length, or provide a shorter input."
    )
    error = explain(status_error(400, {"error": message}), URL)
    assert isinstance(error, ContextTooLong) and (error.n_ctx, error.n_prompt) == (4096, 13055)
    older = explain(status_error(400, {"error": "Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)"}), URL)
    assert isinstance(older, ContextTooLong) and (older.n_ctx, older.n_prompt) == (7424, 15028)


def test_llamacpp_exceed_context_size_error() -> None:
    # llama.cpp's answer, as the built-in server (xllamacpp) sends it for a 6,031-token prompt.
    body = {
        "error": {
            "code": 400,
            "message": "request (6031 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 6031,
            "n_ctx": 4096,
        }
    }
    error = explain(status_error(400, body), URL)
    assert isinstance(error, ContextTooLong) and (error.n_ctx, error.n_prompt) == (4096, 6031)
    assert "4,096 tokens" in str(error) and "'Context window' in the sidebar to 4,096" in str(error)
    # the fields alone are enough (a message in other words)
    body["error"]["message"] = "prompt too long"
    assert explain(status_error(400, body), URL).n_ctx == 4096


def test_our_own_budget_error_keeps_its_message() -> None:
    error = ContextTooLong("the persona and your message take about 5000 tokens, the budget is 3000")
    assert error.n_ctx is None and "Shorten your message" in str(error) and "budget is 3000" in str(error)


def test_empty_reply() -> None:
    error = EmptyReply(URL, "qwen3-8b")
    assert str(error).startswith("The server ended the reply without sending anything (qwen3-8b).")
    assert URL in str(error) and "Retry" in str(error)


def test_http_errors_from_httpx_keep_the_servers_words() -> None:
    response = httpx.Response(401, request=REQUEST, json={"error": {"message": "Invalid API token"}})
    error = explain(httpx.HTTPStatusError("401", request=REQUEST, response=response), URL)
    assert isinstance(error, ServerError) and "Invalid API token" in str(error)
    plain = httpx.Response(500, request=REQUEST, text="boom")
    assert "HTTP 500" in str(explain(httpx.HTTPStatusError("500", request=REQUEST, response=plain), URL))
