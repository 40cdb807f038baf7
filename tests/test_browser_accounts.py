"""Accounts in a real headless Chromium: an admin approving a pending account (with
JavaScript off, as every admin page works), and a log-out in one tab closing another
tab's live socket, which then shows the log-in page."""
from __future__ import annotations

import pytest

from tests.live_client import User
from tests.servers import embedded_server
from tests.test_browser import chromium  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("browser-accounts"), SIGNUP_POLICY="approval") as running:
        User(running, "admin@example.com")  # the first account: the admin
        yield running


@pytest.fixture
def context_for(chromium, server):  # noqa: F811
    contexts = []

    def make(javascript=True):
        context = chromium.new_context(java_script_enabled=javascript, base_url=server.url)
        context.set_default_timeout(15000)
        contexts.append(context)
        return context
    yield make
    for context in contexts:
        context.close()


def sign_up(page, email):
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign up").click()


def log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()


def approve(server, email):
    """As an admin would (shown in the test above): the account may sign in."""
    from chatbot.accounts.sqldirectory import SQLDirectory
    from chatbot.files import LocalFiles

    directory = SQLDirectory(server.store.engine, LocalFiles(server.log_path.parent / "files"))
    [member] = [m for m in directory.members(email) if m.email == email]
    directory.set_status(member.id, "active")


def test_an_admin_approves_a_pending_account_without_javascript(context_for, server):
    admin = context_for(javascript=False).new_page()
    log_in(admin, "admin@example.com")
    admin.wait_for_url("**/")

    newcomer = context_for(javascript=True).new_page()
    sign_up(newcomer, "newcomer@example.com")
    assert newcomer.get_by_role("heading", name="Thanks for signing up").is_visible()
    log_in(newcomer, "newcomer@example.com")
    assert "waiting for an administrator" in newcomer.locator(".field-error").inner_text()

    admin.get_by_role("link", name="Admin", exact=True).click()
    row = admin.locator("tr", has_text="newcomer@example.com")
    assert "pending" in row.inner_text()
    row.get_by_role("button", name="Approve").click()
    assert "newcomer@example.com is approved." in admin.locator(".notice").inner_text()
    assert "active" in admin.locator("tr", has_text="newcomer@example.com").inner_text()

    log_in(newcomer, "newcomer@example.com")
    newcomer.wait_for_url("**/")
    assert newcomer.get_by_label("Message").is_visible()  # a new chat, ready to type in


def test_logging_out_in_one_tab_closes_the_other_tabs_live_socket(context_for, server):
    browser = context_for(javascript=True)
    chat_tab = browser.new_page()
    sign_up(chat_tab, "tabs@example.com")
    approve(server, "tabs@example.com")
    log_in(chat_tab, "tabs@example.com")
    chat_tab.wait_for_url("**/")
    chat_tab.get_by_label("Message").fill("Hello")
    chat_tab.get_by_role("button", name="Send").click()
    chat_tab.wait_for_url("**/chats/*")
    chat_tab.wait_for_selector("body[data-live=open]", state="attached")

    other_tab = browser.new_page()
    other_tab.goto(chat_tab.url)
    other_tab.get_by_role("button", name="Log out").click()
    other_tab.wait_for_url("**/login**")

    # The first tab's socket closes (4401) and the page goes to the log-in page by itself.
    chat_tab.wait_for_url("**/login**", timeout=10000)
    assert chat_tab.get_by_role("button", name="Log in").is_visible()
