"""What the loopback Supabase stand-in shares between its Auth, REST and Storage parts: the
project's keys, its JWTs, and running SQL as the role a request's credentials grant.

As on Supabase: every request carries an ``apikey`` header holding a project key, and an
``Authorization: Bearer`` header holding either a signed-in user's access token (a JWT,
role ``authenticated``) or a project key (the publishable key acts as ``anon``, the secret
key as ``service_role``, which bypasses RLS).
"""
from __future__ import annotations

import json
import secrets
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import jwt
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

ACCESS_TOKEN_LIFETIME = 3600  # Supabase's default, in seconds


class ApiError(Exception):
    """An error answered as JSON with an HTTP status; each API words its body its own way."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Project:
    database_url: str
    publishable_key: str = field(default_factory=lambda: "sb_publishable_" + secrets.token_urlsafe(16))
    secret_key: str = field(default_factory=lambda: "sb_secret_" + secrets.token_urlsafe(16))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    access_token_lifetime: int = ACCESS_TOKEN_LIFETIME

    def access_token(self, user_id: str, email: str, session_id: str) -> tuple[str, int]:
        """A signed access token for a user, and when it expires (epoch seconds)."""
        now = int(time.time())
        expires_at = now + self.access_token_lifetime
        claims = {"sub": user_id, "email": email, "role": "authenticated", "aud": "authenticated",
                  "session_id": session_id, "iat": now, "exp": expires_at, "iss": "loopback-supabase"}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256"), expires_at

    def credentials(self, headers: Mapping[str, str]) -> tuple[str, dict]:
        """The database role and JWT claims a request acts with; ApiError(401) if it has none."""
        if headers.get("apikey") not in (self.publishable_key, self.secret_key):
            raise ApiError(401, "invalid_api_key", "Invalid API key")
        scheme, _, bearer = headers.get("Authorization", "").partition(" ")
        if not bearer or scheme.lower() != "bearer":
            bearer = headers["apikey"]
        if bearer == self.secret_key:
            return "service_role", {"role": "service_role"}
        if bearer == self.publishable_key:
            return "anon", {"role": "anon"}
        try:
            claims = jwt.decode(bearer, self.jwt_secret, algorithms=["HS256"], audience="authenticated")
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "PGRST303", "JWT expired") from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "PGRST301", "JWT could not be decoded") from None
        return claims["role"], claims

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection as the database owner (the Auth and Storage servers' own bookkeeping)."""
        with psycopg.connect(self.database_url, row_factory=dict_row) as db:
            yield db

    @contextmanager
    def acting_as(self, role: str, claims: dict) -> Iterator[psycopg.Connection]:
        """A transaction run as PostgREST runs one: as ``role``, with the JWT claims set, so
        that ``auth.uid()`` and every RLS policy apply. Commits if the block succeeds."""
        with self.connect() as db, db.transaction():
            db.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
            yield db


def new_id() -> str:
    return str(uuid.uuid4())
