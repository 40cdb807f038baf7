"""The stand-in Auth's users: rows of ``auth.users`` as GoTrue keeps them, and as its API
shows them (the user JSON, with identities made from the providers used)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timezone

import psycopg
from psycopg.types.json import Jsonb

from .project import new_id


def hash_password(password: str) -> str:
    """A salted scrypt hash, with parameters cheap enough for tests."""
    salt = secrets.token_bytes(16)
    return f"{salt.hex()}${scrypt(password, salt).hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if not stored:  # a user who only ever signed in with OAuth
        return False
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(scrypt(password, bytes.fromhex(salt)).hex(), digest)


def scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)


def find_user(db: psycopg.Connection, email: str) -> dict | None:
    return db.execute("select * from auth.users where email = %s", (email,)).fetchone()


def user_by_id(db: psycopg.Connection, user_id: str | uuid.UUID) -> dict | None:
    return db.execute("select * from auth.users where id = %s", (user_id,)).fetchone()


def insert_user(db: psycopg.Connection, email: str, provider: str, *, password_hash: str | None = None,
                 data: dict | None = None, confirmed: bool = False) -> dict:
    return db.execute(
        "insert into auth.users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data,"
        " raw_user_meta_data) values (%s, %s, %s, case when %s then now() end, %s, %s) returning *",
        (new_id(), email, password_hash, confirmed, Jsonb({"provider": provider, "providers": [provider]}),
         Jsonb(data or {}))).fetchone()


def update_user(db: psycopg.Connection, user_id: str | uuid.UUID, assignments: str, *params) -> dict:
    """Set ``assignments`` (SQL written in this module) on a user's row; the row, updated."""
    return db.execute(f"update auth.users set {assignments}, updated_at = now() where id = %s returning *",
                      (*params, user_id)).fetchone()


def user_json(user: dict) -> dict:
    """A user as GoTrue sends one. Its identities are made from the providers it has used."""
    user_id, app_metadata = str(user["id"]), user["raw_app_meta_data"] or {}
    identities = [{"id": user_id, "identity_id": str(uuid.uuid5(uuid.UUID(user_id), provider)), "user_id": user_id,
                   "provider": provider, "identity_data": {"email": user["email"], "sub": user_id},
                   "created_at": iso(user["created_at"]), "updated_at": iso(user["updated_at"]),
                   "last_sign_in_at": iso(user["last_sign_in_at"])}
                  for provider in app_metadata.get("providers", [])]
    return {"id": user_id, "aud": "authenticated", "role": "authenticated", "email": user["email"],
            "email_confirmed_at": iso(user["email_confirmed_at"]), "confirmed_at": iso(user["email_confirmed_at"]),
            "confirmation_sent_at": iso(user["confirmation_sent_at"]),
            "recovery_sent_at": iso(user["recovery_sent_at"]), "last_sign_in_at": iso(user["last_sign_in_at"]),
            "app_metadata": app_metadata, "user_metadata": user["raw_user_meta_data"] or {},
            "identities": identities, "is_anonymous": False,
            "created_at": iso(user["created_at"]), "updated_at": iso(user["updated_at"])}


def obfuscated_user(email: str, data: dict) -> dict:
    """GoTrue's answer to signing up an address that has a confirmed user, when confirmations
    are on: a made-up user with no identities, so the answer does not tell it has an account."""
    now = datetime.now(timezone.utc)
    user = {"id": new_id(), "email": email, "created_at": now, "updated_at": now, "confirmation_sent_at": now,
            "email_confirmed_at": None, "recovery_sent_at": None, "last_sign_in_at": None,
            "raw_app_meta_data": {"provider": "email", "providers": ["email"]}, "raw_user_meta_data": data}
    return {**user_json(user), "identities": []}


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
