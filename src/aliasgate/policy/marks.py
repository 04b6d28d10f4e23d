"""Where each value of a policy was written: JSON paths and (line, column) marks."""

from __future__ import annotations

import json
import re
from typing import Any

PathT = tuple[Any, ...]


def json_path(path: PathT) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


class Marks:
    """Where each value (and each mapping key) of the document was written."""

    def __init__(self) -> None:
        self.values: dict[PathT, tuple[int, int]] = {}
        self.keys: dict[PathT, tuple[int, int]] = {}

    def at(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        if key and path in self.keys:
            return self.keys[path]
        p = path
        while p not in self.values and p:
            p = p[:-1]
        return self.values.get(p, (1, 1))
