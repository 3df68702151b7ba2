"""The one canonical JSON encoding: what is signed, hashed or used as an identity is encoded
this way everywhere (sorted keys, no spaces, UTF-8), so the same value always gives the same bytes."""

from __future__ import annotations

import json
from typing import Any


def canonical_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
