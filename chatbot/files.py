"""The file-store seam: where attachment files live. ``LocalFiles`` keeps them on local disk
(the embedded default); the Supabase backend keeps them in a private Storage bucket."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

# Keys are made by the server, "<owner id>/<attachment id>"; nothing else is accepted, so a
# key can never climb out of the store's folder.
_KEY = re.compile(r"^[0-9a-f-]{36}/[0-9a-f-]{36}$")


class FileStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes:
        """The file's bytes; FileNotFoundError if there is none."""
        ...
    def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalFiles:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.part")
        draft.write_bytes(data)
        os.replace(draft, path)  # whole or not at all

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
