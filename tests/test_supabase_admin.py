"""The operator's controls and account self-service on the Supabase backend, against the
loopback stand-in: profiles (role, standing) read under RLS, the sign-up policy applied to
every account however it is made, approving, disabling and deleting accounts (their rows,
their Storage files and their Supabase Auth user), and a password change that ends the
other sessions. The same rules on local accounts: test_admin.py."""
from __future__ import annotations

import io
import re
import uuid

import psycopg
import pytest
import requests

from chatbot.accounts import ACCOUNT_DISABLED, AWAITING_APPROVAL
from chatbot.backends import backends
from chatbot.supabase_backend.profiles import NotReadable, Profiles
from chatbot.supabase_backend.store import SupabaseStore
from tests.conftest import new_chat
from tests.test_supabase_backend import PASSWORD, app_path, credentials_of, project_of, rows, supabase_app

AWAITING = AWAITING_APPROVAL.replace("'", "&#39;")


def email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def site(tmp_path, standin):
    """A project as new (no admin, no policy chosen: the module's earlier accounts stay, as
    plain users), an app on it, and its first account: (app, the admin's client)."""
    with psycopg.connect(standin.project.database_url, autocommit=True) as db:
        db.execute("update public.profiles set role = 'user'")
        db.execute("delete from public.app_settings")
    app = supabase_app(tmp_path, standin)
    admin = app.test_client()
    assert signup(admin, email("root")).status_code == 302
    yield app, admin
    standin.auth.oauth_providers = {}


def signup(client, address, **extra):
    return client.post("/signup", data={"email": address, "password": PASSWORD, **extra})


def login(client, address, password=PASSWORD):
    return client.post("/login", data={"email": address, "password": password})


def member(app, address):
    return next(m for m in backends(app).directory.members(address) if m.email == address)


def set_policy(admin, policy):
    assert admin.post("/admin/policy", data={"policy": policy}).status_code == 302


def supabase_sessions(standin, user_id) -> int:
    """How many sessions Supabase Auth (the stand-in) keeps for the user."""
    with standin.auth._lock:
        return sum(session.user_id == user_id for session in standin.auth._sessions.values())


def test_the_first_account_becomes_the_admin_and_later_ones_do_not(site):
    app, admin = site
    [root] = [m for m in backends(app).directory.members() if m.is_admin]
    assert root.status == "active" and backends(app).directory.count_admins() == 1
    assert admin.get("/admin").status_code == 200
    user = app.test_client()
    signup(user, address := email("bob"))
    assert member(app, address).role == "user"
    assert user.get("/admin").status_code == 404


def test_with_approval_a_new_account_waits_and_cannot_sign_in(site, standin):
    app, admin = site
    set_policy(admin, "approval")
    response = signup(app.test_client(), address := email("pending"))
    assert response.status_code == 200 and "An administrator approves new accounts" in response.text
    waiting = member(app, address)
    assert waiting.status == "pending"
    assert supabase_sessions(standin, waiting.id) == 0  # the session sign-up made was ended
    refused = login(app.test_client(), address)
    assert refused.status_code == 422 and AWAITING in refused.text
    assert supabase_sessions(standin, waiting.id) == 0
    wrong = login(app.test_client(), address, "wrong password")
    assert wrong.status_code == 422 and AWAITING not in wrong.text
    again = signup(app.test_client(), address)  # the same answer for an email that has an account
    assert again.status_code == 200 and again.text == response.text


def test_an_account_made_outside_the_app_follows_the_policy(site, standin, tmp_path):
    """Supabase Auth's sign-up is open to anyone with the publishable key: the database, not
    the caller, gives the new account its standing."""
    app, admin = site
    outside = project_of(standin).user_client().auth
    outside.sign_up({"email": (open_one := email("direct")), "password": PASSWORD})
    assert member(app, open_one).status == "active"
    set_policy(admin, "invite")
    outside.sign_up({"email": (closed_one := email("direct")), "password": PASSWORD})
    assert member(app, closed_one).status == "pending"
    assert login(app.test_client(), closed_one).status_code == 422
    with psycopg.connect(standin.project.database_url, autocommit=True) as db:
        db.execute("delete from public.app_settings where name = 'signup_policy'")  # none chosen
    supabase_app(tmp_path / "strict", standin, SIGNUP_POLICY="approval")  # records its default
    outside.sign_up({"email": (defaulted := email("direct")), "password": PASSWORD})
    assert member(app, defaulted).status == "pending"


def test_a_new_account_through_a_sign_in_provider_waits_too(site, standin, tmp_path):
    app, admin = site
    set_policy(admin, "approval")
    standin.auth.oauth_providers = {"github": (address := email("octo"))}
    client = supabase_app(tmp_path / "github", standin, SUPABASE_AUTH_PROVIDERS="github").test_client()
    away = client.post("/login/github")
    back = requests.get(away.headers["Location"], allow_redirects=False)
    refused = client.get(app_path(back.headers["Location"]))
    assert refused.status_code == 400 and AWAITING in refused.text
    assert client.get("/").status_code == 302
    assert member(app, address).status == "pending"


def test_an_admin_approves_then_disables_an_account(site):
    app, admin = site
    set_policy(admin, "approval")
    signup(app.test_client(), address := email("wait"))
    target = member(app, address)
    assert address in admin.get("/admin").text
    assert admin.post(f"/admin/users/{target.id}/approve").status_code == 302
    user = app.test_client()
    assert login(user, address).status_code == 302 and user.get("/").status_code == 200
    admin.post(f"/admin/users/{target.id}/disable")
    assert user.get("/").status_code == 302  # signed out at its next request
    refused = login(app.test_client(), address)
    assert refused.status_code == 422 and ACCOUNT_DISABLED in refused.text
    admin.post(f"/admin/users/{target.id}/enable")
    assert login(app.test_client(), address).status_code == 302


def test_the_profile_is_checked_on_every_request(site):
    """Even a session that still runs opens nothing once its account is turned away, and a
    new role counts at once (in the process that changed it: see profiles.PROFILE_TTL)."""
    app, admin = site
    user = app.test_client()
    signup(user, address := email("kept"))
    target = member(app, address)
    admin.post(f"/admin/users/{target.id}/make-admin")
    assert user.get("/admin").status_code == 200
    backends(app).directory.set_status(target.id, "disabled")  # sessions left running
    assert user.get("/").status_code == 302


def test_a_profile_is_read_once_a_few_seconds_and_again_once_changed_here(site, standin):
    app, _ = site
    user = app.test_client()
    signup(user, email("cached"))
    credentials, made = credentials_of(user), []

    def as_the_user():
        made.append(credentials.user_id)
        return project_of(standin).user_client(credentials.access_token)

    profiles = Profiles(ttl=60)
    assert profiles.get(credentials.user_id, as_the_user).active
    assert profiles.get(credentials.user_id, as_the_user).active and len(made) == 1  # kept
    profiles.forget(credentials.user_id)
    profiles.get(credentials.user_id, as_the_user)
    profiles.get(credentials.user_id, as_the_user, fresh=True)
    assert len(made) == 3
    other = str(uuid.uuid4())  # RLS: anyone else's profile is no answer
    assert profiles.get(other, as_the_user) is None
    with pytest.raises(NotReadable):  # a token Supabase refuses: no answer, and none kept
        profiles.get(other, lambda: project_of(standin).user_client("not a token"), fresh=True)
    assert profiles.get(other, as_the_user) is None and len(made) == 4


def test_deleting_an_account_deletes_its_rows_files_and_supabase_user(site, standin):
    app, admin = site
    user = app.test_client()
    signup(user, address := email("leaving"))
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", content_type="multipart/form-data",
              data={"content": "see file", "files": [(io.BytesIO(b"lighthouses\n"), "notes.txt")]})
    target = member(app, address)
    # A file in the account's folder that no attachment row names: it goes too.
    project_of(standin).user_client(credentials_of(user).access_token).storage.from_("attachments").upload(
        f"{target.id}/stray", b"left over", {"content-type": "text/plain"})
    assert rows(standin, "select count(*) from storage.objects where name like %s", f"{target.id}/%") == [(2,)]
    assert f"Delete {address}?" in admin.get(f"/admin/users/{target.id}/delete").text
    assert admin.post(f"/admin/users/{target.id}/delete").status_code == 302
    for table, column in (("public.chats", "owner_id"), ("public.messages", "owner_id"),
                          ("public.attachments", "owner_id"), ("public.sessions", "user_id"),
                          ("public.profiles", "user_id"), ("auth.users", "id")):
        assert rows(standin, f"select count(*) from {table} where {column} = %s", target.id) == [(0,)], table
    assert rows(standin, "select count(*) from storage.objects where name like %s", f"{target.id}/%") == [(0,)]
    assert user.get("/").status_code == 302
    assert login(app.test_client(), address).status_code == 422


def test_a_user_deletes_their_own_account(site, standin):
    app, _ = site
    user = app.test_client()
    signup(user, address := email("self"))
    user_id = member(app, address).id
    wrong = user.post("/account/delete", data={"delete_password": "not my password"})
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text
    assert user.post("/account/delete", data={"delete_password": PASSWORD}).status_code == 302
    assert rows(standin, "select count(*) from auth.users where id = %s", user_id) == [(0,)]
    assert supabase_sessions(standin, user_id) == 0


def test_changing_the_password_ends_the_other_sessions(site, standin):
    app, _ = site
    here, elsewhere = app.test_client(), app.test_client()
    signup(here, address := email("moving"))
    assert login(elsewhere, address).status_code == 302
    user_id = member(app, address).id
    assert supabase_sessions(standin, user_id) == 2
    wrong = here.post("/account/password", data={"current_password": "not it", "new_password": "a brand new one"})
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text
    changed = here.post("/account/password", data={"current_password": PASSWORD, "new_password": "a brand new one"})
    assert changed.status_code == 302
    assert elsewhere.get("/").status_code == 302 and here.get("/").status_code == 200
    assert supabase_sessions(standin, user_id) == 1  # this one; the checks' own sessions ended too
    assert login(app.test_client(), address).status_code == 422
    assert login(app.test_client(), address, "a brand new one").status_code == 302


def test_usage_per_day(site):
    app, admin = site
    user = app.test_client()
    signup(user, address := email("busy"))
    chat_id = new_chat(user)
    for text in ("one", "two"):
        user.post(f"/chats/{chat_id}/messages", data={"content": text})  # each waits for its reply
    target = member(app, address)
    [today] = backends(app).directory.usage(target.id, 30)
    assert (today.messages, today.replies) == (2, 2) and today.completion_tokens > 0
    assert today.day.isoformat() in admin.get(f"/admin/users/{target.id}").text
    [by_model] = backends(app).directory.model_usage(target.id, today.day.replace(day=1))
    assert (by_model.day, by_model.model, by_model.replies) == (today.day, "offline-responder", 2)
    assert backends(app).directory.model_usage(target.id, today.day.replace(year=today.day.year + 1)) == []


def test_an_invitation_makes_one_account_and_can_be_withdrawn(site):
    app, admin = site
    set_policy(admin, "invite")
    assert signup(app.test_client(), email("uninvited")).status_code == 422
    notice = admin.post("/admin/invitations", follow_redirects=True).text
    token = re.search(r"Invitation link [^:]*: http://\S+?invitation=([^<\s]+)<", notice).group(1)
    guest = app.test_client()
    assert signup(guest, address := email("guest"), invitation=token).status_code == 302
    assert guest.get("/").status_code == 200 and member(app, address).status == "active"
    used = signup(app.test_client(), email("second"), invitation=token)
    assert used.status_code == 422 and "expired or has been used" in used.text
    assert backends(app).directory.invitations() == []
    admin.post("/admin/invitations")
    [invitation] = backends(app).directory.invitations()
    admin.post(f"/admin/invitations/{invitation.id}/revoke")
    assert backends(app).directory.invitations() == []


def test_search_pages_and_the_command_line(site):
    app, admin = site
    tag = uuid.uuid4().hex[:8]
    for n in range(3):
        signup(app.test_client(), f"carol{n}_{tag}@example.com")
    directory = backends(app).directory
    assert [m.email for m in directory.members(f"CAROL1_{tag}")] == [f"carol1_{tag}@example.com"]
    assert len(directory.members(tag, limit=2)) == 2 and len(directory.members(tag, limit=2, offset=2)) == 1
    assert directory.members("%") == [] and "No accounts match" in admin.get("/admin?q=nobody%25").text
    result = app.test_cli_runner().invoke(args=["admin", "promote", f"carol2_{tag}@example.com"])
    assert result.exit_code == 0 and member(app, f"carol2_{tag}@example.com").is_admin


def test_streaming_replies_are_counted_as_their_owner_under_rls(site, standin):
    app, _ = site
    owner, stranger = app.test_client(), app.test_client()
    signup(owner, email("owner"))
    signup(stranger, email("stranger"))
    mine = credentials_of(owner)
    store = project_of(standin).for_user(mine)[0]
    chat = store.add_chat(mine.user_id, "busy", "m")
    store.add_turn(mine.user_id, chat.id, "a question", "m", "test-worker")
    assert store.streaming_replies(mine.user_id) == 1
    # The stranger's token, with the code's own check passed (as a bug might): RLS answers 0.
    confused = SupabaseStore(project_of(standin).user_client(credentials_of(stranger).access_token), mine.user_id)
    assert confused.streaming_replies(mine.user_id) == 0


def test_the_secret_key_stays_out_of_the_directory(site, standin):
    app, _ = site
    assert standin.project.secret_key not in repr(backends(app).directory)


def test_with_email_confirmation_the_first_account_is_the_admin_and_an_invitation_is_used(tmp_path, standin):
    """A sign-up that waits for its confirmation link still claims the admin role (the
    first) or spends its invitation (later ones): the policy holds before anyone confirms."""
    with psycopg.connect(standin.project.database_url, autocommit=True) as db:
        db.execute("update public.profiles set role = 'user'")
        db.execute("delete from public.app_settings")
    app = supabase_app(tmp_path, standin)
    standin.auth.autoconfirm = False
    try:
        first = app.test_client()
        assert "Check your email" in signup(first, root := email("confirm-root")).text
        assert member(app, root).is_admin
        backends(app).directory.set_setting("signup_policy", "invite")
        from chatbot.accounts import signup as registration

        token = registration.new_invitation(backends(app).directory, member(app, root).id)
        invited = signup(app.test_client(), guest := email("confirm-guest"), invitation=token)
        assert "Check your email" in invited.text and member(app, guest).role == "user"
        again = signup(app.test_client(), email("confirm-second"), invitation=token)
        assert again.status_code == 422 and "expired or has been used" in again.text
    finally:
        standin.auth.autoconfirm = True
