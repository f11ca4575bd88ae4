"""Reading ARM JSON in both spellings: `az ... -o json` (properties flattened, camelCase) and the
ARM wire format (nested under "properties", acronyms capitalised: vnetSubnetID, privateFQDN).

`ArmView` looks keys up case-insensitively, on the object first and then in its "properties",
so `view.str("vnetSubnetId")` finds `vnetSubnetID` too. Values are validated as they are read:
a wrong type raises `ArmValueError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ArmValueError(ValueError):
    """A value in an ARM body has the wrong type; the message names the key."""


class ArmView:
    __slots__ = ("_keys",)

    def __init__(self, body: Mapping[str, Any] | None) -> None:
        keys: dict[str, Any] = {}
        if body:
            for key, value in body.items():
                keys[key.lower()] = value
            properties = keys.get("properties")
            if isinstance(properties, Mapping):
                for key, value in properties.items():
                    keys.setdefault(key.lower(), value)
        self._keys = keys

    def raw(self, key: str) -> Any:
        return self._keys.get(key.lower())

    def str(self, key: str) -> str | None:
        value = self._keys.get(key.lower())
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ArmValueError(f'"{key}" should be a string, not {type(value).__name__}')
        return str(value)

    def bool(self, key: str) -> bool:
        value = self._keys.get(key.lower())
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ArmValueError(f'"{key}" should be true or false, not {value!r}')

    def int(self, key: str) -> int | None:
        value = self._keys.get(key.lower())
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ArmValueError(f'"{key}" should be a number, not {value!r}')
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ArmValueError(f'"{key}" should be a number, not {value!r}') from None

    def obj(self, key: str) -> ArmView:
        value = self._keys.get(key.lower())
        if value is None:
            return ArmView(None)
        if not isinstance(value, Mapping):
            raise ArmValueError(f'"{key}" should be an object, not {type(value).__name__}')
        return ArmView(value)

    def objs(self, key: str) -> list[ArmView]:
        return [ArmView(item) for item in self._list(key, Mapping, "objects")]

    def strs(self, key: str) -> tuple[str, ...]:
        """A list of strings; a lone string counts as a list of one (ARM has singular twins)."""
        value = self._keys.get(key.lower())
        if isinstance(value, str):
            return (value,) if value else ()
        return tuple(str(item) for item in self._list(key, str | int, "strings") if item != "")

    def ref(self, key: str) -> str | None:
        """The id of a sub-resource reference: `"networkSecurityGroup": {"id": "..."}`."""
        return self.obj(key).str("id")

    def refs(self, key: str) -> tuple[str, ...]:
        return tuple(ref for item in self.objs(key) if (ref := item.str("id")))

    def _list(self, key: str, kind: Any, what: str) -> list[Any]:
        value = self._keys.get(key.lower())
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
            raise ArmValueError(f'"{key}" should be a list of {what}')
        return value

    def __bool__(self) -> bool:
        return bool(self._keys)
