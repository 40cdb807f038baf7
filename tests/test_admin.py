"""The operator's controls: the first account is the admin, the sign-up policy, approving,
disabling and deleting accounts, invitations, usage, and the command line."""
from __future__ import annotations

import re

import pytest

from chatbot import create_app
from chatbot.accounts import AWAITING_APPROVAL, ACCOUNT_DISABLED
from chatbot.backends import backends
from tests.conftest import make_config, new_chat, send

PASSWORD = "correct horse"


@pytest.fixture
def site(tmp_path):
    """An app whose first account (the admin) exists: (app, the admin's client)."""
    app = create_app(make_config(tmp_path))
    admin = app.test_client()
    assert admin.post("/signup", data={"email": "root@example.com", "password": PASSWORD}).status_code == 302
    return app, admin


def visitor(app):
    return app.test_client()


def signup(client, email, **extra):
    return client.post("/signup", data={"email": email, "password": PASSWORD, **extra})


def login(client, email, password=PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def member(app, email):
    directory = backends(app).directory
    return next(m for m in directory.members(email) if m.email == email)


def set_policy(admin, policy):
    assert admin.post("/admin/policy", data={"policy": policy}).status_code == 302


def test_the_first_account_is_the_admin_and_later_ones_are_not(site):
    app, admin = site
    assert member(app, "root@example.com").role == "admin"
    assert admin.get("/admin").status_code == 200
    assert 'href="/admin"' in admin.get("/account").text
    user = visitor(app)
    signup(user, "bob@example.com")
    assert member(app, "bob@example.com").role == "user"
    assert user.get("/admin").status_code == 404  # to anyone else it does not exist
    assert user.post("/admin/policy", data={"policy": "open"}).status_code == 404
    assert 'href="/admin"' not in user.get("/account").text


def test_with_approval_a_new_account_waits_and_cannot_sign_in(site):
    app, admin = site
    set_policy(admin, "approval")
    response = signup(visitor(app), "pending@example.com")
    assert response.status_code == 200 and "An administrator approves new accounts" in response.text
    assert member(app, "pending@example.com").status == "pending"
    refused = login(visitor(app), "pending@example.com")
    assert refused.status_code == 422 and AWAITING_APPROVAL.replace("'", "&#39;") in refused.text
    assert login(visitor(app), "pending@example.com", "wrong password").status_code == 422


def test_with_approval_signup_answers_the_same_for_an_existing_email(site):
    app, admin = site
    set_policy(admin, "approval")
    new = signup(visitor(app), "fresh@example.com")
    again = signup(visitor(app), "fresh@example.com")  # a second time: the email has an account now
    existing = signup(visitor(app), "root@example.com")
    assert new.status_code == again.status_code == existing.status_code == 200
    assert strip_tokens(new.text) == strip_tokens(again.text) == strip_tokens(existing.text)


def strip_tokens(html):
    return re.sub(r'value="[^"]*"', "", html)


def test_signup_hashes_the_password_whether_or_not_the_email_is_taken(site):
    """The same work either way, so both answers take as long."""
    app, admin = site
    set_policy(admin, "approval")
    from argon2 import PasswordHasher

    hashed = []

    class CountingHasher(PasswordHasher):
        def hash(self, password, **kwargs):
            hashed.append(password)
            return super().hash(password, **kwargs)

    backends(app).accounts.hasher = CountingHasher()
    signup(visitor(app), "timing@example.com")
    signup(visitor(app), "root@example.com")
    assert len(hashed) == 2


def test_an_admin_approves_a_pending_account(site):
    app, admin = site
    set_policy(admin, "approval")
    signup(visitor(app), "wait@example.com")
    listing = admin.get("/admin").text
    assert "wait@example.com" in listing and "pending" in listing
    pending = member(app, "wait@example.com")
    table = listing.split('<table class="members">')[1]
    assert table.index("wait@example.com") < table.index("root@example.com")  # pending first
    response = admin.post(f"/admin/users/{pending.id}/approve", data={"back": "list"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin"
    assert member(app, "wait@example.com").status == "active"
    user = visitor(app)
    assert login(user, "wait@example.com").status_code == 302
    assert user.get("/").status_code == 200


def test_disabling_an_account_ends_its_sessions_at_once(site):
    app, admin = site
    user = visitor(app)
    signup(user, "later@example.com")
    assert user.get("/").status_code == 200
    target = member(app, "later@example.com")
    admin.post(f"/admin/users/{target.id}/disable")
    assert user.get("/").status_code == 302  # signed out
    refused = login(visitor(app), "later@example.com")
    assert refused.status_code == 422 and "This account has been disabled." in refused.text
    assert ACCOUNT_DISABLED.startswith("This account has been disabled.")
    admin.post(f"/admin/users/{target.id}/enable")
    assert login(visitor(app), "later@example.com").status_code == 302


def test_closed_signups_refuse_everyone(site):
    app, admin = site
    set_policy(admin, "closed")
    page = visitor(app).get("/signup").text
    assert "Sign-ups are closed on this site." in page and "<form" not in page.split("</h1>")[1].split("Already")[0]
    response = signup(visitor(app), "late@example.com")
    assert response.status_code == 422 and "Sign-ups are closed" in response.text
    assert backends(app).store.user_by_email("late@example.com") is None


def test_an_invitation_link_makes_one_account(site):
    app, admin = site
    set_policy(admin, "invite")
    assert signup(visitor(app), "uninvited@example.com").status_code == 422
    notice = admin.post("/admin/invitations", follow_redirects=True).text
    link = re.search(r"Invitation link [^:]*: (http://\S+?)<", notice).group(1)
    token = link.split("invitation=")[1]
    assert f'name="invitation" value="{token}"' in visitor(app).get(f"/signup?invitation={token}").text
    guest = visitor(app)
    assert signup(guest, "guest@example.com", invitation=token).status_code == 302
    assert guest.get("/").status_code == 200
    used = signup(visitor(app), "second@example.com", invitation=token)
    assert used.status_code == 422 and "expired or has been used" in used.text
    assert backends(app).directory.invitations() == []


def test_an_invitation_can_be_withdrawn(site):
    app, admin = site
    set_policy(admin, "invite")
    admin.post("/admin/invitations")
    invitation = backends(app).directory.invitations()[0]
    admin.post(f"/admin/invitations/{invitation.id}/revoke")
    assert backends(app).directory.invitations() == []


def test_the_last_admin_cannot_be_removed_or_remove_themselves(site):
    app, admin = site
    root = member(app, "root@example.com")
    response = admin.post(f"/admin/users/{root.id}/disable")
    assert response.status_code == 422 and "your account page" in response.text
    user = visitor(app)
    signup(user, "deputy@example.com")
    deputy = member(app, "deputy@example.com")
    admin.post(f"/admin/users/{deputy.id}/make-admin")
    assert member(app, "deputy@example.com").role == "admin"
    assert user.get("/admin").status_code == 200  # the role counts at once
    user.post(f"/admin/users/{root.id}/remove-admin")
    assert member(app, "root@example.com").role == "user"
    refused = user.post(f"/admin/users/{deputy.id}/remove-admin")
    assert refused.status_code == 422 and "your account page" in refused.text


def test_deleting_an_account_deletes_its_data_and_files(site, tmp_path):
    app, admin = site
    user = visitor(app)
    signup(user, "leaving@example.com")
    chat_id = new_chat(user)
    from io import BytesIO
    send(user, chat_id, "see file", files=[(BytesIO(b"notes about lighthouses"), "notes.txt")])
    store = backends(app).store
    owner = store.user_by_email("leaving@example.com").id
    [attachment] = store.chat_attachments(owner, chat_id)
    files = backends(app).files
    assert files.get(attachment.storage_key)
    target = member(app, "leaving@example.com")
    assert "Delete leaving@example.com?" in admin.get(f"/admin/users/{target.id}/delete").text
    admin.post(f"/admin/users/{target.id}/delete")
    assert store.user_by_email("leaving@example.com") is None
    assert store.chats(owner) == [] and store.messages(owner, chat_id) == []
    with pytest.raises(FileNotFoundError):
        files.get(attachment.storage_key)
    assert user.get("/").status_code == 302


def test_usage_per_day(site):
    app, admin = site
    user = visitor(app)
    signup(user, "busy@example.com")
    chat_id = new_chat(user)
    for text in ("one", "two"):
        send(user, chat_id, text)  # each waits for its reply
    target = member(app, "busy@example.com")
    [today] = backends(app).directory.usage(target.id, 30)
    assert (today.messages, today.replies) == (2, 2)
    assert today.completion_tokens > 0
    page = admin.get(f"/admin/users/{target.id}").text
    assert today.day.isoformat() in page and f"<td>{today.completion_tokens:,}</td>" in page
    [by_model] = backends(app).directory.model_usage(target.id, today.day.replace(day=1))
    assert (by_model.day, by_model.model, by_model.replies) == (today.day, "offline-responder", 2)
    assert (by_model.prompt_tokens, by_model.completion_tokens) == (today.prompt_tokens, today.completion_tokens)
    assert backends(app).directory.model_usage(target.id, today.day.replace(year=today.day.year + 1)) == []


def test_search_and_pages(site):
    app, admin = site
    for n in range(3):
        signup(visitor(app), f"carol{n}@example.com")
    page = admin.get("/admin?q=CAROL1").text
    assert "carol1@example.com" in page and "carol2@example.com" not in page
    assert "No accounts match" in admin.get("/admin?q=nobody%25").text


def test_the_command_line_makes_and_unmakes_admins(site):
    app, _ = site
    signup(visitor(app), "cli@example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["admin", "promote", "cli@example.com"])
    assert result.exit_code == 0 and "cli@example.com is an admin" in result.output
    assert member(app, "cli@example.com").role == "admin"
    assert runner.invoke(args=["admin", "demote", "cli@example.com"]).exit_code == 0
    assert member(app, "cli@example.com").role == "user"
    last = runner.invoke(args=["admin", "demote", "root@example.com"])
    assert last.exit_code != 0 and "only admin" in last.output
    assert runner.invoke(args=["admin", "promote", "nobody@example.com"]).exit_code != 0


def test_production_waits_for_approval_by_default(tmp_path):
    app = create_app(make_config(tmp_path, CHATBOT_ENV="production"))
    first, second = app.test_client(), app.test_client()
    assert signup(first, "owner@example.com").status_code == 302  # the first account: the admin
    assert signup(second, "stranger@example.com").status_code == 200
    assert member(app, "stranger@example.com").status == "pending"
