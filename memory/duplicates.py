"""Near-identical memories, found as they are written: a turn or background sentence that says
what a stored one of the same kind says, in (almost) the same words (:func:`ranking.near_duplicate`),
is stored with ``duplicate_of`` (turns) or not at all (background), so that recall does not fill
its five places with one fact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memory import ranking
from memory.lexical import LexicalIndex

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

#: Nearest stored memories compared with each new one.
NEAREST = 3


def originals(
    collection: Collection, index: LexicalIndex, ids: list[str], texts: list[str], kind: str,
    vectors: npt.NDArray[np.float32],
) -> dict[str, str]:  # fmt: skip
    """For each new memory that is near-identical to a stored one of the same kind, or to an
    earlier one of the batch: the id of that original. Chroma gives the nearest ids and
    distances; their texts come from the mirror."""
    found: dict[str, str] = {}
    size = len(index)
    if size:
        result = collection.query(query_embeddings=vectors, n_results=min(size, NEAREST), include=["distances"])
        stored = index.entries(list({i for row in result["ids"] for i in row}))
        for n, own in enumerate(ids):
            for other, distance in zip(result["ids"][n], (result["distances"] or [])[n], strict=True):
                entry = stored.get(other)
                if (
                    entry is not None
                    and other != own
                    and entry.kind == kind
                    and ranking.near_duplicate(1.0 - distance, texts[n], entry.text)
                ):
                    found[own] = entry.duplicate_of or other
                    break
    similar = vectors @ vectors.T
    for i, own in enumerate(ids):
        for j in range(i):
            if own not in found and ids[j] != own and ranking.near_duplicate(similar[i, j], texts[i], texts[j]):
                found[own] = found.get(ids[j], ids[j])
    return found
