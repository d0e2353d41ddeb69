from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ui.chat_view import safe_markdown, safe_stream


def test_images_are_neutralised_everything_else_kept() -> None:
    assert safe_markdown("*waves* ![pixel](http://tracker.example/p.png) **bold**") == (
        "*waves* !\\[pixel](http://tracker.example/p.png) **bold**"
    )
    assert safe_markdown("Wow! [a link](http://x)") == "Wow! [a link](http://x)"


def test_stream_catches_an_image_split_across_tokens() -> None:
    assert "".join(safe_stream(["look ", "!", "[x](http://t/p.png)", " done!"])) == "look !\\[x](http://t/p.png) done!"


@given(st.lists(st.text(alphabet="![]ab ", max_size=6), max_size=8))
def test_stream_equals_the_whole_text_made_safe(tokens: list[str]) -> None:
    assert "".join(safe_stream(tokens)) == safe_markdown("".join(tokens))
