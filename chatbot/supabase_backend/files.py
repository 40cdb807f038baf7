"""Attachment files in Supabase Storage: the private ``attachments`` bucket, as one user.

Keys are ``<owner id>/<attachment id>``, and the bucket's policies let a user reach only the
folder named after their own id; the files are never public, and the app serves them to
their owner itself (with its own headers), so no signed URL ever leaves the server.
"""
from __future__ import annotations

from storage3.exceptions import StorageApiError
from supabase import Client

from ..files import check_key

BUCKET = "attachments"


class SupabaseFiles:
    def __init__(self, client: Client) -> None:
        self.bucket = client.storage.from_(BUCKET)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.bucket.upload(check_key(key), data, {"content-type": content_type, "upsert": "false"})

    def get(self, key: str) -> bytes:
        try:
            return self.bucket.download(check_key(key))
        except StorageApiError as error:
            # Storage says "not found" (statusCode 404 in the body) alike for a missing
            # file and another user's.
            if str(error.status) == "404":
                raise FileNotFoundError(key) from None
            raise

    def delete(self, key: str) -> None:
        self.bucket.remove([check_key(key)])
