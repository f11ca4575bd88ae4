"""Every document the app reads from outside, parsed within bounds: snapshot files (JSON, or YAML as
`kubectl -o yaml` and `az -o yaml` print it), the HTTP check's request bodies, queue messages and the
Kubernetes API's answers. One place decides how deep, how long and how large a value may be, so no
input can raise RecursionError, OverflowError or MemoryError further on, and every refusal is one line.

What comes out is plain JSON data: dicts with string keys, lists, strings, finite numbers (ints of at
most `MAX_INT_DIGITS` digits), booleans and None. YAML's extra types are brought back to JSON's
(timestamps as ISO 8601 text, keys as strings); anchors and aliases are refused (kubectl and az never
write them, and they are how a small YAML file expands into billions of nodes). Lone UTF-16 surrogates
(`"\\ud800"` is valid JSON) become U+FFFD, so no report fails to print.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from datetime import date, datetime
from typing import Any

import yaml

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024  # a snapshot file: an events list of a large cluster is tens of MB
MAX_DEPTH = 64  # Kubernetes objects with managedFields nest about 15 deep; ARM bodies about 10
MAX_STRING_CHARS = 4 * 1024 * 1024  # etcd keeps objects under 1.5 MiB: no real value is longer
MAX_INT_DIGITS = 20  # every 64-bit integer, signed or not
MAX_NUMBER_CHARS = 64  # a float's text: 17 significant digits and an exponent fit many times over
MAX_NODES = 20_000_000  # values in one document (a 5,000-node cluster's pod list is about 5 million)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON's escape of a surrogate (paired or not: a pair is let through the full walk too).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: ~10x faster


class DocumentError(ValueError):
    """A document outside the bounds, or not JSON/YAML at all; the message says what is wrong, in one line."""


def load_json(text: str | bytes) -> Any:
    """A JSON document, within the bounds."""
    from_utf8 = isinstance(text, bytes)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentError("not UTF-8 text") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if len(text) <= min(MAX_STRING_CHARS, MAX_NODES) and not _may_hold_surrogates(text, from_utf8):
        # The text itself shows that no string is too long, that there are not too many values and that no
        # lone surrogate can come out; the parse hooks bounded the numbers and JSON keys are strings. Only the
        # depth is left to check: the walk skips the scalars, most of a Kubernetes answer, so a live sweep's
        # many answers cost a fraction of the full walk.
        _check_depth(value)
        return value
    return bounded(value)


def _may_hold_surrogates(text: str, from_utf8: bool) -> bool:
    """Whether parsing `text` can give a string holding a UTF-16 surrogate: JSON's escape of one (a substring
    test first: most answers hold no `\\u` at all, and a regex over all of them cost more than the parse), or
    the character itself, which text decoded from UTF-8 cannot hold and ASCII text does not."""
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        return True
    if from_utf8 or text.isascii():
        return False
    try:
        text.encode("utf-8")  # the codec refuses a surrogate, at C speed
    except UnicodeEncodeError:
        return True
    return False


def load_document(text: str, yaml_allowed: bool = True) -> Any:
    """JSON, or else (when `yaml_allowed`) YAML; JSON's error is the one reported when both fail on
    text that looks like JSON (it starts with `{` or `[`)."""
    try:
        return load_json(text)
    except DocumentError as json_error:
        if not yaml_allowed or text.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
            raise json_error from None
    return load_yaml(text)


def load_yaml(text: str) -> Any:
    """One YAML document (safe loader: no Python objects), within the bounds."""
    try:
        documents = list(yaml.load_all(text, Loader=_YAML_LOADER))
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise DocumentError(f"invalid YAML{where}: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: an int of more than 4,300 digits
        raise DocumentError(f"invalid YAML: {str(exc).splitlines()[0][:200]}") from None
    if len(documents) != 1:
        raise DocumentError(f"expected one YAML document, found {len(documents)}")
    return bounded(documents[0], yaml_types=True)


def bounded(value: Any, yaml_types: bool = False) -> Any:
    """`value` checked (and, for YAML, converted) in place, iteratively: no recursion, whatever its depth.
    Also for values the SDKs parsed (live answers), so they meet the same bounds as files."""
    root = [value]
    stack: list[tuple[list[Any] | dict[str, Any], Any, int]] = [(root, 0, 0)]
    seen: dict[int, Any] = {}
    nodes = 0
    while stack:
        parent, key, depth = stack.pop()
        item = parent[key]
        nodes += 1
        if nodes > MAX_NODES:
            raise DocumentError(f"more than {MAX_NODES:,} values")
        if isinstance(item, str):
            parent[key] = _text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            _check_int(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DocumentError(f"the number {item} is out of range")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise DocumentError(f"nested deeper than {MAX_DEPTH} levels")
            if yaml_types:  # a parser's JSON never shares a node; YAML shares one per alias
                if id(item) in seen:
                    raise DocumentError("YAML anchors and aliases (&name, *name) are not accepted")
                seen[id(item)] = item  # kept alive, so its id is not reused while we walk
            if isinstance(item, dict):
                if yaml_types or not all(type(k) is str for k in item):
                    item = parent[key] = {_key(k): v for k, v in item.items()}
                elif any(not k.isascii() for k in item):
                    item = parent[key] = {_text(k): v for k, v in item.items()}
                stack.extend((item, child, depth + 1) for child in item)
            else:
                stack.extend((item, index, depth + 1) for index in range(len(item)))
        elif yaml_types and isinstance(item, datetime | date):
            parent[key] = item.isoformat().replace("+00:00", "Z")
        else:
            raise DocumentError(f"a value of type {type(item).__name__} (only JSON's types are accepted)")
    return root[0]


def _check_depth(value: Any) -> None:
    """Raises when a list or object sits `MAX_DEPTH` levels deep or more (as `bounded` counts them)."""
    stack = [(value, 0)] if type(value) in _CONTAINERS else []
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            raise DocumentError(f"nested deeper than {MAX_DEPTH} levels")
        children = item.values() if type(item) is dict else item
        stack.extend((child, depth + 1) for child in children if type(child) in _CONTAINERS)


_CONTAINERS = (dict, list)


def _text(text: str) -> str:
    if len(text) > MAX_STRING_CHARS:
        raise DocumentError(f"a string of {len(text):,} characters (at most {MAX_STRING_CHARS:,})")
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def _key(key: Any) -> str:
    """A mapping key as JSON would have it (YAML keys may be numbers, booleans, null or dates)."""
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, int | float):
        if isinstance(key, int):
            _check_int(key)
        return str(key)
    if isinstance(key, datetime | date):
        return key.isoformat()
    raise DocumentError(f"a mapping key of type {type(key).__name__} (only strings are accepted)")


def _check_int(number: int) -> None:
    if abs(number) >= 10**MAX_INT_DIGITS:
        raise DocumentError(f"a number of more than {MAX_INT_DIGITS} digits")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise DocumentError(f"the number {text[:24]}... has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise DocumentError(f"the number {text[:24]}... is longer than {MAX_NUMBER_CHARS} characters")
    number = float(text)
    if not math.isfinite(number):
        raise DocumentError(f"the number {text} is out of range")
    return number


def _constant(text: str) -> Any:
    raise DocumentError(f"{text} is not a JSON number")


def packed_json(value: Any) -> bytes:
    """`value` as compact JSON, compressed (zlib level 1: most of the gain for a tenth of the CPU): how a sweep
    keeps what it reads back later (discovered rows, network bodies) at about a third of their text."""
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)


def unpacked_json(blob: bytes) -> Any:
    """What `packed_json` packed."""
    return json.loads(zlib.decompress(blob))
