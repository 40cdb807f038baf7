"""Vendored assets are exactly the published files, and every page's assets exist."""
import hashlib
import os
import re
from pathlib import Path

from chatbot.rendering import pygments_css
from tests.conftest import new_chat

STATIC = Path(__file__).resolve().parent.parent / "chatbot" / "static"
TEMPLATES = STATIC.parent / "templates"


def test_vendored_files_match_their_recorded_sha256():
    table = (STATIC / "VENDORED.md").read_text()
    rows = re.findall(r"\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|", table)
    assert {name for name, _ in rows} == {"htmx-4.0.1.min.js", "hx-sse-4.0.1.min.js", "hx-ws-4.0.1.min.js",
                                        "hx-upsert-4.0.1.min.js"}
    for name, digest in rows:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert "Zero-Clause BSD" in (STATIC / "htmx-LICENSE.txt").read_text()
    assert "version = '4.0.1'" in (STATIC / "htmx-4.0.1.min.js").read_text() or \
        "4.0.1" in (STATIC / "htmx-4.0.1.min.js").read_text()


def test_templates_reference_only_existing_static_files():
    for template in TEMPLATES.rglob("*.html"):
        for name in re.findall(r"url_for\('static', filename='([^']+)'\)", template.read_text()):
            assert (STATIC / name).is_file(), (template, name)


def test_pygments_stylesheet_is_current():
    assert pygments_css() in (STATIC / "pygments.css").read_text()


def test_static_files_are_served(client):
    with client.get("/static/htmx-4.0.1.min.js") as response:
        assert response.status_code == 200 and "javascript" in response.mimetype


def test_static_links_carry_the_files_hash_and_are_kept_for_a_year(client):
    html = client.get("/login").text
    [css] = re.findall(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', html)
    with client.get(css) as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with client.get("/static/app.css") as unversioned:  # an address without its hash is asked again
        assert "immutable" not in unversioned.headers.get("Cache-Control", "")


def test_a_changed_file_gets_a_new_address(app, tmp_path):
    from flask import url_for

    app.static_folder = str(tmp_path)
    (tmp_path / "x.css").write_text("a { }")
    with app.test_request_context():
        first = url_for("static", filename="x.css")
        (tmp_path / "x.css").write_text("a { color: red }")
        os.utime(tmp_path / "x.css", (1, 1))  # a different modification time, as a new release has
        assert url_for("static", filename="x.css") != first


def test_pages_of_plain_forms_load_no_scripts(client, auth):
    for path in ("/login", "/signup", "/forgot", "/no-such-page"):
        html = client.get(path).text
        assert "<script" not in html and "pygments.css" not in html, path
    auth.signup()
    chat = client.get(f"/chats/{new_chat(client)}").text
    assert "htmx-4.0.1.min.js" in chat and "chat.js" in chat and "pygments.css" in chat
