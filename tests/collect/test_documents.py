"""The loader's quick path (a text that cannot hold a surrogate skips the full walk) gives what the full walk
gives, whatever the text: JSON escapes of surrogates, paired or lone, raw surrogates in str input, UTF-8 bytes."""

from __future__ import annotations

import copy
import json

from hypothesis import given
from hypothesis import strategies as st

from collect.documents import bounded, load_json

TEXTS = st.text(alphabet=st.characters(codec=None, exclude_categories=("Cn",)), max_size=20)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**18), 10**18) | TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXTS, children, max_size=4),
    max_leaves=20,
)


def no_surrogate(value: object) -> bool:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", errors="strict") is not None


@given(VALUES, st.booleans(), st.booleans())
def test_the_quick_path_gives_what_the_full_walk_gives(value: object, ascii_only: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    expected = bounded(copy.deepcopy(json.loads(text)))
    if as_bytes:
        raw = text.encode("utf-8", errors="surrogatepass")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return  # not UTF-8 text: refused, as before
        loaded = load_json(raw)
    else:
        loaded = load_json(text)
    assert loaded == expected and no_surrogate(loaded)


def test_an_escaped_lone_surrogate_and_a_raw_one_become_the_replacement_character() -> None:
    assert load_json(b'{"a": "x\\ud800y"}') == {"a": "x\ufffdy"}
    assert load_json('{"a": "x\ud800y", "b": "caf\u00e9"}') == {"a": "x\ufffdy", "b": "caf\u00e9"}
    assert load_json('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}  # a pair is one character
