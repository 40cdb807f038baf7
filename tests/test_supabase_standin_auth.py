"""The stand-in's Auth (tests/supabase/auth_api.py), proved with the real supabase-py client
over HTTP: sign-up with and without email confirmation, password sign-in, refresh-token
rotation, sign-out, password recovery and OAuth, each with the PKCE flow a server-side app
uses, and the errors as supabase_auth raises them."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError


CALLBACK = "http://127.0.0.1:5000/auth/callback"
PASSWORD = "correct horse"


@pytest.fixture
def auth(standin):
    return standin.auth


def client(standin, flow_type="pkce", key=None):
    """A supabase-py client as a server-side app makes one: no timers, nothing persisted."""
    options = SyncClientOptions(flow_type=flow_type, auto_refresh_token=False, persist_session=False)
    return create_client(standin.url, key or standin.project.publishable_key, options=options)


def signed_up(standin, email):
    return client(standin).auth.sign_up({"email": email, "password": PASSWORD}).session


def follow(link: str) -> tuple[str, dict, dict]:
    """Follow a link as a browser would, one hop: where it leads, its query and fragment."""
    response = requests.get(link, allow_redirects=False)
    assert response.status_code in (302, 303), response.text
    location = urlsplit(response.headers["Location"])
    return location._replace(query="", fragment="").geturl(), parse_qs(location.query), parse_qs(location.fragment)


def last_email(auth, to: str):
    emails = [email for email in auth.outbox if email.to == to]
    return emails[-1] if emails else None


def test_sign_up_gives_a_session_the_project_accepts(standin):
    session = signed_up(standin, "ada@example.com")
    role, claims = standin.project.credentials({"apikey": standin.project.publishable_key,
                                                "Authorization": f"Bearer {session.access_token}"})
    assert (role, claims["sub"], claims["email"]) == ("authenticated", session.user.id, "ada@example.com")
    assert session.user.email_confirmed_at is not None
    assert session.user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert [identity.provider for identity in session.user.identities] == ["email"]
    assert client(standin).auth.get_user(session.access_token).user.id == session.user.id


def test_signing_up_twice_is_refused(standin):
    signed_up(standin, "twice@example.com")
    with pytest.raises(AuthApiError) as error:
        signed_up(standin, "TWICE@example.com")
    assert (error.value.code, error.value.status, error.value.message) == (
        "user_already_exists", 422, "User already registered")


def test_a_short_password_is_weak(standin):
    with pytest.raises(AuthWeakPasswordError) as error:
        client(standin).auth.sign_up({"email": "short@example.com", "password": "12345"})
    assert (error.value.code, error.value.status, error.value.reasons) == ("weak_password", 422, ["length"])


def test_confirming_the_email_by_its_link(standin, auth, monkeypatch):
    monkeypatch.setattr(auth, "autoconfirm", False)
    app = client(standin)
    signed = app.auth.sign_up({"email": "cy@example.com", "password": PASSWORD,
                               "options": {"email_redirect_to": CALLBACK}})
    assert signed.session is None and signed.user.email == "cy@example.com"
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.sign_in_with_password({"email": "cy@example.com", "password": PASSWORD})
    assert (error.value.code, error.value.status) == ("email_not_confirmed", 400)

    email = last_email(auth, "cy@example.com")
    assert email.kind == "signup"
    to, query, _ = follow(email.link)
    assert to == CALLBACK
    session = app.auth.exchange_code_for_session({"auth_code": query["code"][0]}).session
    assert session.user.email == "cy@example.com" and session.user.email_confirmed_at is not None
    client(standin).auth.sign_in_with_password({"email": "cy@example.com", "password": PASSWORD})

    # The link is used up, and so is the code.
    to, query, fragment = follow(email.link)
    assert query["error_code"] == fragment["error_code"] == ["otp_expired"]
    assert query["error"] == ["access_denied"]
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.exchange_code_for_session({"auth_code": "0" * 36, "code_verifier": "x" * 43})
    assert (error.value.code, error.value.status) == ("flow_state_not_found", 404)


def test_signing_up_a_confirmed_address_again_tells_nothing(standin, auth, monkeypatch):
    signed_up(standin, "dee@example.com")
    monkeypatch.setattr(auth, "autoconfirm", False)
    sent = len(auth.outbox)
    answer = client(standin).auth.sign_up({"email": "dee@example.com", "password": PASSWORD})
    assert answer.session is None and answer.user.identities == []
    assert len(auth.outbox) == sent


def test_an_expired_link_and_a_wrong_verifier(standin, auth, monkeypatch):
    monkeypatch.setattr(auth, "autoconfirm", False)
    client(standin).auth.sign_up({"email": "eve@example.com", "password": PASSWORD,
                                  "options": {"email_redirect_to": CALLBACK}})
    monkeypatch.setattr(auth, "email_link_lifetime", -1)
    _, query, _ = follow(last_email(auth, "eve@example.com").link)
    assert query["error_code"] == ["otp_expired"]

    monkeypatch.setattr(auth, "email_link_lifetime", 60)
    app = client(standin)
    app.auth.sign_up({"email": "eve@example.com", "password": PASSWORD, "options": {"email_redirect_to": CALLBACK}})
    _, query, _ = follow(last_email(auth, "eve@example.com").link)
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.exchange_code_for_session({"auth_code": query["code"][0], "code_verifier": "x" * 43})
    assert (error.value.code, error.value.status) == ("bad_code_verifier", 400)
    app.auth.exchange_code_for_session({"auth_code": query["code"][0]})  # the code survives a wrong verifier


def test_the_implicit_flow_puts_the_session_in_the_fragment(standin, auth, monkeypatch):
    monkeypatch.setattr(auth, "autoconfirm", False)
    app = client(standin, flow_type="implicit")
    app.auth.sign_up({"email": "fay@example.com", "password": PASSWORD, "options": {"email_redirect_to": CALLBACK}})
    link = last_email(auth, "fay@example.com").link
    response = requests.get(link, allow_redirects=False)
    assert response.status_code == 303
    app.auth.initialize_from_url(response.headers["Location"])
    assert app.auth.get_session().user.email == "fay@example.com"
    assert parse_qs(urlsplit(response.headers["Location"]).fragment)["type"] == ["signup"]


def test_a_wrong_password_is_invalid_credentials(standin):
    signed_up(standin, "gus@example.com")
    for email, password in (("gus@example.com", "wrong horse"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(AuthApiError) as error:
            client(standin).auth.sign_in_with_password({"email": email, "password": password})
        assert (error.value.code, error.value.status, error.value.message) == (
            "invalid_credentials", 400, "Invalid login credentials")


def test_refresh_tokens_rotate_and_reuse_revokes_the_session(standin, auth):
    first = signed_up(standin, "hal@example.com")
    requests_before = len(auth.refresh_requests)
    second = client(standin).auth.refresh_session(first.refresh_token).session
    assert second.refresh_token != first.refresh_token and second.user.id == first.user.id
    # As GoTrue: the token just replaced, presented again, gets the same new one back.
    assert client(standin).auth.refresh_session(first.refresh_token).session.refresh_token == second.refresh_token
    third = client(standin).auth.refresh_session(second.refresh_token).session
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.refresh_session(first.refresh_token)
    assert (error.value.code, error.value.status) == ("refresh_token_already_used", 400)
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.refresh_session(third.refresh_token)
    assert error.value.code == "refresh_token_already_used"
    assert len(auth.refresh_requests) - requests_before == 5


def test_signing_out(standin):
    first = signed_up(standin, "ivy@example.com")
    second = client(standin).auth.sign_in_with_password({"email": "ivy@example.com", "password": PASSWORD}).session
    # Server-side, with a user's access token: local ends that session only.
    client(standin).auth.admin.sign_out(first.access_token, "local")
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.refresh_session(first.refresh_token)
    assert (error.value.code, error.value.status) == ("refresh_token_not_found", 400)
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.get_user(first.access_token)
    assert (error.value.code, error.value.status) == ("session_not_found", 403)
    second = client(standin).auth.refresh_session(second.refresh_token).session

    # A signed-in client's own sign_out is global.
    app = client(standin)
    app.auth.sign_in_with_password({"email": "ivy@example.com", "password": PASSWORD})
    app.auth.sign_out()
    assert app.auth.get_session() is None
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.refresh_session(second.refresh_token)
    assert error.value.code == "refresh_token_not_found"


def test_recovering_a_password(standin, auth):
    elsewhere = signed_up(standin, "jo@example.com")
    app = client(standin)
    events = []
    app.auth.on_auth_state_change(lambda event, session: events.append(event))
    app.auth.reset_password_for_email("jo@example.com", {"redirect_to": CALLBACK})
    email = last_email(auth, "jo@example.com")
    assert email.kind == "recovery"
    to, query, _ = follow(email.link)
    assert to == CALLBACK
    app.auth.exchange_code_for_session({"auth_code": query["code"][0]})
    assert events == ["PASSWORD_RECOVERY"]
    with pytest.raises(AuthWeakPasswordError):
        app.auth.update_user({"password": "short"})
    with pytest.raises(AuthApiError) as error:
        app.auth.update_user({"password": PASSWORD})
    assert (error.value.code, error.value.status) == ("same_password", 422)
    app.auth.update_user({"password": "battery staple"})
    with pytest.raises(AuthApiError) as error:  # a new password ends the user's other sessions
        client(standin).auth.refresh_session(elsewhere.refresh_token)
    assert error.value.code == "refresh_token_not_found"

    client(standin).auth.sign_in_with_password({"email": "jo@example.com", "password": "battery staple"})
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.sign_in_with_password({"email": "jo@example.com", "password": PASSWORD})
    assert error.value.code == "invalid_credentials"


def test_recovering_an_unknown_address_sends_nothing(standin, auth):
    sent = len(auth.outbox)
    client(standin).auth.reset_password_for_email("nobody@example.com", {"redirect_to": CALLBACK})
    assert len(auth.outbox) == sent


def test_a_redirect_off_the_allow_list_goes_to_the_site_url(standin, auth):
    signed_up(standin, "kit@example.com")
    client(standin).auth.reset_password_for_email("kit@example.com", {"redirect_to": "https://evil.example/"})
    to, query, _ = follow(last_email(auth, "kit@example.com").link)
    assert to == standin.project.site_url and "code" in query


def test_signing_in_with_an_oauth_provider(standin, auth, monkeypatch):
    monkeypatch.setitem(auth.oauth_providers, "github", "lee@example.com")
    app = client(standin)
    url = app.auth.sign_in_with_oauth({"provider": "github", "options": {"redirect_to": CALLBACK}}).url
    to, query, _ = follow(url)
    assert to == CALLBACK
    session = app.auth.exchange_code_for_session({"auth_code": query["code"][0]}).session
    assert session.user.email == "lee@example.com"
    assert session.user.app_metadata == {"provider": "github", "providers": ["github"]}


def test_oauth_links_a_provider_to_an_email_user(standin, auth, monkeypatch):
    signed_up(standin, "max@example.com")
    monkeypatch.setitem(auth.oauth_providers, "google", "max@example.com")
    app = client(standin)
    _, query, _ = follow(app.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": CALLBACK}}).url)
    user = app.auth.exchange_code_for_session({"auth_code": query["code"][0]}).user
    assert user.app_metadata["providers"] == ["email", "google"]
    client(standin).auth.sign_in_with_password({"email": "max@example.com", "password": PASSWORD})


def test_a_disabled_provider_answers_the_browser_with_an_error(standin):
    # Building the URL asks nothing of the server; the error is what the browser then gets.
    url = client(standin).auth.sign_in_with_oauth({"provider": "github", "options": {"redirect_to": CALLBACK}}).url
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error_code": "validation_failed",
                               "msg": "Unsupported provider: Provider is not enabled"}


def test_the_apikey_is_required(standin):
    response = requests.post(f"{standin.url}/auth/v1/token?grant_type=password",
                             json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_api_key"
    with pytest.raises(AuthApiError) as error:
        client(standin, key="sb_publishable_wrong").auth.sign_in_with_password(
            {"email": "ada@example.com", "password": PASSWORD})
    assert (error.value.code, error.value.status) == ("invalid_api_key", 401)


def test_an_expired_access_token_is_refused(standin, monkeypatch):
    monkeypatch.setattr(standin.project, "access_token_lifetime", -1)
    session = signed_up(standin, "ned@example.com")
    with pytest.raises(AuthApiError) as error:
        client(standin).auth.get_user(session.access_token)
    assert (error.value.code, error.value.status) == ("bad_jwt", 403)
