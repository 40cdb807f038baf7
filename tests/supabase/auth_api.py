"""The Auth part of the stand-in (``/auth/v1``): the subset of GoTrue that supabase-py's auth
client (``supabase_auth``) calls, answered as GoTrue answers it.

Supported: sign-up, the ``password``, ``refresh_token`` and ``pkce`` grants, logout (its
three scopes), password recovery, the email links (``/verify``), OAuth sign-in
(``/authorize``, the provider's consent screen included), and reading the user or changing
their password (``/user``). Not supported: phone, OTP codes, magic links, MFA, admin.

Users are rows of the real ``auth.users``. Sessions, refresh tokens, email links and PKCE auth
codes live in memory, under one lock (the server is threaded): enough for a stand-in that lives
as long as a test module. Settings a test may change: ``autoconfirm``, ``oauth_providers``
(provider -> the email its consent screen signs in as), ``redirect_urls`` (allowed prefixes of
``redirect_to``), ``email_link_lifetime``. Records: ``outbox`` and ``refresh_requests``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.types.json import Jsonb
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .auth_users import (find_user, hash_password, insert_user, obfuscated_user, password_matches, update_user,
                         user_by_id, user_json)
from .project import ApiError, Project, new_id

API_VERSION_HEADER = "X-Supabase-Api-Version"
MIN_PASSWORD_LENGTH = 6  # GoTrue's default
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# Supabase's gateway lets these through without an apikey: they are links a browser follows.
OPEN_ENDPOINTS = {"verify", "authorize"}


@dataclass(frozen=True)
class Email:
    """An email the stand-in "sent": kind is "signup" (confirmation) or "recovery"."""
    to: str
    kind: str
    link: str


@dataclass(frozen=True)
class _Pkce:
    challenge: str
    method: str  # "s256" or "plain"

    def matches(self, verifier: str) -> bool:
        if self.method == "s256":
            verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(verifier, self.challenge)


@dataclass
class _Session:
    user_id: str
    active: str | None  # the refresh token to use next; None once reuse revoked them all
    parent: str | None = None  # the token `active` replaced, still answered with `active`


@dataclass(frozen=True)
class _Link:
    user_id: str
    pkce: _Pkce | None
    sent_at: float


@dataclass(frozen=True)
class _AuthCode:
    user_id: str
    pkce: _Pkce


class AuthApi:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.autoconfirm = True
        self.oauth_providers: dict[str, str] = {}
        self.redirect_urls = ["http://127.0.0.1:", "http://localhost:"]
        self.email_link_lifetime = 86400  # seconds, GoTrue's default
        self.outbox: list[Email] = []
        self.refresh_requests: list[str] = []
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._refresh_tokens: dict[str, str] = {}  # every token issued -> its session's id
        self._links: dict[tuple[str, str], _Link] = {}  # (token, kind) -> link
        self._auth_codes: dict[str, _AuthCode] = {}
        self._urls = Map([
            Rule("/auth/v1/signup", methods=["POST"], endpoint="signup"),
            Rule("/auth/v1/token", methods=["POST"], endpoint="token"),
            Rule("/auth/v1/logout", methods=["POST"], endpoint="logout"),
            Rule("/auth/v1/recover", methods=["POST"], endpoint="recover"),
            Rule("/auth/v1/verify", methods=["GET"], endpoint="verify"),
            Rule("/auth/v1/authorize", methods=["GET"], endpoint="authorize"),
            Rule("/auth/v1/user", methods=["GET"], endpoint="get_user"),
            Rule("/auth/v1/user", methods=["PUT"], endpoint="update_user"),
            Rule("/auth/v1/admin/users", methods=["POST"], endpoint="admin_create_user"),
            Rule("/auth/v1/admin/users/<user_id>", methods=["DELETE"], endpoint="admin_delete_user"),
        ])

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, arguments = self._urls.bind_to_environ(environ).match()
            if endpoint not in OPEN_ENDPOINTS:
                # Only the key: a stale user token in Authorization is no concern of /token's.
                self.project.credentials({"apikey": request.headers.get("apikey")})
            response = getattr(self, endpoint)(request, **arguments)
        except ApiError as error:
            response = _error_response(request, error)
        except HTTPException as error:
            response = error
        return response(environ, start_response)

    def signup(self, request: Request) -> Response:
        """Sign up with email and password: with autoconfirm, a session at once; else the user
        alone (the client's "check your email") and a confirmation link by email."""
        body = _body(request)
        email = _valid_email(body.get("email"))
        password = body.get("password") or ""
        if not password:
            raise ApiError(422, "validation_failed", "Signup requires a valid password")
        _check_strength(password)
        pkce = _pkce(body)
        redirect_to = self._redirect_to(request.args.get("redirect_to"))
        with self.project.connect() as db:
            user = find_user(db, email)
            if user is not None and user["email_confirmed_at"]:
                if self.autoconfirm:
                    raise ApiError(422, "user_already_exists", "User already registered")
                return _json(obfuscated_user(email, body.get("data") or {}))
            # An unconfirmed user is left as it is (this may not be its owner); the link goes again.
            if user is None:
                user = insert_user(db, email, "email", password_hash=hash_password(password), data=body.get("data"))
            if self.autoconfirm:
                return _json(self._sign_in(db, update_user(db, user["id"], "email_confirmed_at = now()")))
            user = update_user(db, user["id"], "confirmation_sent_at = now()")
        self._send(request, user, "signup", redirect_to, pkce)
        return _json(user_json(user))

    def token(self, request: Request) -> Response:
        """A session, by one of the grants ``?grant_type=`` names."""
        grants = {"password": self._password_grant, "refresh_token": self._refresh_grant, "pkce": self._pkce_grant}
        grant = grants.get(request.args.get("grant_type", ""))
        if grant is None:
            raise ApiError(400, "validation_failed", "unsupported_grant_type")
        return _json(grant(_body(request)))

    def _password_grant(self, body: dict) -> dict:
        with self.project.connect() as db:
            user = find_user(db, (body.get("email") or "").lower())
            if user is None or not password_matches(body.get("password") or "", user["encrypted_password"]):
                raise ApiError(400, "invalid_credentials", "Invalid login credentials")
            if not user["email_confirmed_at"]:
                raise ApiError(400, "email_not_confirmed", "Email not confirmed")
            return self._sign_in(db, user)

    def _refresh_grant(self, body: dict) -> dict:
        """Rotation as GoTrue's, with no reuse interval: the active token is swapped for a new
        one; its parent, presented again (a client that lost the answer, or a concurrent
        refresh), gets the active one back; any other revoked token is reuse, which revokes
        every token of the session. Tokens of ended sessions are not found."""
        token = body.get("refresh_token") or ""
        self.refresh_requests.append(token)
        with self._lock:
            session_id = self._refresh_tokens.get(token)
            session = self._sessions.get(session_id)
            if session is None:
                raise ApiError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
            if token == session.active:
                session.parent, session.active = token, secrets.token_urlsafe(24)
                self._refresh_tokens[session.active] = session_id
            elif token != session.parent:
                session.active = session.parent = None
                raise ApiError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
            refresh_token = session.active
        with self.project.connect() as db:
            return self._session_json(user_by_id(db, session.user_id), session_id, refresh_token)

    def _pkce_grant(self, body: dict) -> dict:
        code, verifier = body.get("auth_code"), body.get("code_verifier")
        if not code or not verifier:
            raise ApiError(400, "validation_failed",
                           "invalid request: both auth code and code verifier should be non-empty")
        with self._lock:
            auth_code = self._auth_codes.get(code)
            if auth_code is None:
                raise ApiError(404, "flow_state_not_found", "invalid flow state, no valid flow state found")
            if not auth_code.pkce.matches(verifier):
                raise ApiError(400, "bad_code_verifier", "code challenge does not match previously saved code verifier")
            del self._auth_codes[code]
        with self.project.connect() as db:
            return self._sign_in(db, user_by_id(db, auth_code.user_id))

    def logout(self, request: Request) -> Response:
        """Sign out: ``local`` ends the token's session, ``others`` the user's other sessions,
        ``global`` (the default) all of them; their refresh tokens end with them."""
        user, session_id = self._authenticated(request)
        scope = request.args.get("scope") or "global"
        if scope not in ("global", "local", "others"):
            raise ApiError(400, "validation_failed", f'Unsupported logout scope "{scope}"')
        self._end_sessions(str(user["id"]), session_id, scope)
        return Response(status=204)

    def recover(self, request: Request) -> Response:
        """Password recovery: a link by email if the address is a user's, and the same empty
        answer either way, which tells no one who has an account."""
        body = _body(request)
        email = _valid_email(body.get("email"))
        pkce = _pkce(body)
        redirect_to = self._redirect_to(request.args.get("redirect_to"))
        with self.project.connect() as db:
            user = db.execute("update auth.users set recovery_sent_at = now() where email = %s returning *",
                              (email,)).fetchone()
        if user is not None:
            self._send(request, user, "recovery", redirect_to, pkce)
        return _json({})

    def verify(self, request: Request) -> Response:
        """An emailed link, followed: the email is confirmed and the browser sent back to
        ``redirect_to`` signed in. A used, unknown or expired link comes back with otp_expired,
        in the fragment, and in the query too under PKCE (where a server reads it)."""
        token, kind = request.args.get("token", ""), request.args.get("type", "")
        redirect_to = self._redirect_to(request.args.get("redirect_to"))
        with self._lock:
            link = self._links.pop((token, kind), None)
        if link is None or time.time() - link.sent_at > self.email_link_lifetime:
            error = {"error": "access_denied", "error_code": "otp_expired",
                     "error_description": "Email link is invalid or has expired"}
            location = _with_query(redirect_to, **error) if token.startswith("pkce_") else redirect_to
            return redirect(f"{location}#{urlencode(error)}", 303)
        with self.project.connect() as db:
            user = update_user(db, link.user_id, "email_confirmed_at = coalesce(email_confirmed_at, now())")
            return self._signed_in_redirect(db, user, redirect_to, link.pkce, 303, type=kind)

    def authorize(self, request: Request) -> Response:
        """OAuth sign-in, the provider's consent screen included: an enabled provider "signs in"
        at once as its configured email, whose user is made (or linked to the provider), and
        the browser goes back to ``redirect_to`` signed in."""
        provider = request.args.get("provider", "")
        email = self.oauth_providers.get(provider)
        if email is None:
            raise ApiError(400, "validation_failed", "Unsupported provider: Provider is not enabled")
        pkce = _pkce(request.args)
        redirect_to = self._redirect_to(request.args.get("redirect_to"))
        with self.project.connect() as db:
            user = find_user(db, email)
            if user is None:
                user = insert_user(db, email, provider, confirmed=True)
            else:
                app_metadata = {"provider": provider, **user["raw_app_meta_data"]}
                app_metadata["providers"] = list(dict.fromkeys([*app_metadata.get("providers", []), provider]))
                user = update_user(db, user["id"], "email_confirmed_at = coalesce(email_confirmed_at, now()), "
                                    "raw_app_meta_data = %s", Jsonb(app_metadata))
            return self._signed_in_redirect(db, user, redirect_to, pkce, 302)

    def get_user(self, request: Request) -> Response:
        """The signed-in user."""
        user, _ = self._authenticated(request)
        return _json(user_json(user))

    def update_user(self, request: Request) -> Response:
        """A new password for the signed-in user (how a recovery ends; nothing else changes
        here). As GoTrue does, it ends the user's other sessions."""
        user, session_id = self._authenticated(request)
        password = _body(request).get("password")
        if password is not None:
            _check_strength(password)
            if password_matches(password, user["encrypted_password"]):
                raise ApiError(422, "same_password", "New password should be different from the old password.")
            with self.project.connect() as db:
                user = update_user(db, user["id"], "encrypted_password = %s", hash_password(password))
            self._end_sessions(str(user["id"]), session_id, "others")
        return _json(user_json(user))

    def admin_create_user(self, request: Request) -> Response:
        """A user made by the server (secret key), confirmed if ``email_confirm`` says so."""
        self._admin(request)
        body = _body(request)
        email, password = _valid_email(body.get("email")), body.get("password") or ""
        _check_strength(password)
        with self.project.connect() as db:
            if find_user(db, email) is not None:
                raise ApiError(422, "email_exists", "A user with this email address has already been registered")
            user = insert_user(db, email, "email", password_hash=hash_password(password), data=body.get("user_metadata"),
                                confirmed=bool(body.get("email_confirm")))
        return _json(user_json(user))

    def admin_delete_user(self, request: Request, user_id: str) -> Response:
        """Delete a user, and with it (on delete cascade) everything they own."""
        self._admin(request)
        with self.project.connect() as db:
            if db.execute("delete from auth.users where id = %s returning id", (user_id,)).fetchone() is None:
                raise ApiError(404, "user_not_found", "User not found")
        self._end_sessions(user_id, "", "global")
        return _json({})

    def _admin(self, request: Request) -> None:
        role, _ = self.project.credentials(request.headers)
        if role != "service_role":
            raise ApiError(403, "not_admin", "User not allowed")

    def _authenticated(self, request: Request) -> tuple[dict, str]:
        """The user and session a request's bearer token is for, checked as GoTrue checks them."""
        try:
            role, claims = self.project.credentials(request.headers)
        except ApiError as error:
            if error.code == "invalid_api_key":
                raise
            raise ApiError(403, "bad_jwt",
                           f"invalid JWT: unable to parse or verify signature, {error.message}") from None
        if role != "authenticated":
            raise ApiError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        with self._lock:
            signed_in = claims["session_id"] in self._sessions
        if not signed_in:
            raise ApiError(403, "session_not_found", "Session from session_id claim in JWT does not exist")
        with self.project.connect() as db:
            user = user_by_id(db, claims["sub"])
        if user is None:
            raise ApiError(403, "user_not_found", "User from sub claim in JWT does not exist")
        return user, claims["session_id"]

    def _sign_in(self, db: psycopg.Connection, user: dict) -> dict:
        """A new session for ``user``, with its first refresh token."""
        user = update_user(db, user["id"], "last_sign_in_at = now()")
        session_id, refresh_token = new_id(), secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session_id] = _Session(str(user["id"]), refresh_token)
            self._refresh_tokens[refresh_token] = session_id
        return self._session_json(user, session_id, refresh_token)

    def _session_json(self, user: dict, session_id: str, refresh_token: str) -> dict:
        access_token, expires_at = self.project.access_token(str(user["id"]), user["email"], session_id)
        return {"access_token": access_token, "token_type": "bearer", "expires_in": self.project.access_token_lifetime,
                "expires_at": expires_at, "refresh_token": refresh_token, "user": user_json(user)}

    def _end_sessions(self, user_id: str, current: str, scope: str) -> None:
        with self._lock:
            for session_id in [key for key, session in self._sessions.items() if session.user_id == user_id]:
                if scope == "global" or (session_id == current) == (scope == "local"):
                    del self._sessions[session_id]

    def _signed_in_redirect(self, db: psycopg.Connection, user: dict, redirect_to: str, pkce: _Pkce | None,
                            status: int, **extra: str) -> Response:
        """Back to ``redirect_to`` signed in: under PKCE with ``?code=``, a one-use auth code the
        client exchanges with its verifier; else (implicit flow) with the session in the fragment."""
        if pkce is not None:
            code = new_id()
            with self._lock:
                self._auth_codes[code] = _AuthCode(str(user["id"]), pkce)
            return redirect(_with_query(redirect_to, code=code), status)
        session = self._sign_in(db, user)
        fragment = {key: session[key]
                    for key in ("access_token", "expires_at", "expires_in", "refresh_token", "token_type")}
        return redirect(f"{redirect_to}#{urlencode({**fragment, **extra})}", status)

    def _send(self, request: Request, user: dict, kind: str, redirect_to: str, pkce: _Pkce | None) -> None:
        """Mail (to the outbox) a one-use link to /verify, which replaces the user's last one of
        that kind. As GoTrue's, the token of a PKCE flow's link starts with ``pkce_``."""
        token, user_id = ("pkce_" if pkce else "") + secrets.token_hex(28), str(user["id"])
        with self._lock:
            for key in [key for key, link in self._links.items() if (link.user_id, key[1]) == (user_id, kind)]:
                del self._links[key]
            self._links[(token, kind)] = _Link(user_id, pkce, time.time())
        query = urlencode({"token": token, "type": kind, "redirect_to": redirect_to})
        self.outbox.append(Email(user["email"], kind, f"{request.host_url}auth/v1/verify?{query}"))

    def _redirect_to(self, requested: str | None) -> str:
        """``requested`` if the allow-list has it, else the site URL, as GoTrue falls back."""
        allowed = [self.project.site_url, *self.redirect_urls]
        return requested if requested and requested.startswith(tuple(allowed)) else self.project.site_url


def _error_response(request: Request, error: ApiError) -> Response:
    """An error worded as GoTrue's: a client that sends X-Supabase-Api-Version 2024-01-01 or
    later (supabase-py always does) gets ``{code: error_code, message}`` and the header back,
    others (a browser) ``{code: status, error_code, msg}``. supabase_auth reads either."""
    try:
        versioned = date.fromisoformat(request.headers.get(API_VERSION_HEADER, "")) >= date(2024, 1, 1)
    except ValueError:
        versioned = False
    if versioned:
        body, headers = {"code": error.code, "message": error.message}, {API_VERSION_HEADER: "2024-01-01"}
    else:
        body, headers = {"code": error.status, "error_code": error.code, "msg": error.message}, {}
    if error.code == "weak_password":
        body["weak_password"] = {"reasons": ["length"]}  # the one rule checked
    return _json(body, error.status, headers)


def _json(body: dict, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _body(request: Request) -> dict:
    return request.get_json(silent=True) or {}


def _valid_email(value: str | None) -> str:
    """As GoTrue's validateEmail: present, well formed, lowercased."""
    if not value:
        raise ApiError(400, "validation_failed", "An email address is required")
    if not EMAIL.fullmatch(value):
        raise ApiError(400, "validation_failed", "Unable to validate email address: invalid format")
    return value.lower()


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError(422, "weak_password", f"Password should be at least {MIN_PASSWORD_LENGTH} characters.")


def _pkce(params: Mapping[str, str]) -> _Pkce | None:
    """The PKCE challenge a flow starts with, if it has one."""
    challenge, method = params.get("code_challenge"), (params.get("code_challenge_method") or "").lower()
    if not challenge and not method:
        return None
    if not challenge or method not in ("s256", "plain"):
        raise ApiError(400, "validation_failed", "PKCE flow requires code_challenge_method and code_challenge")
    return _Pkce(challenge, method)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **params})))
