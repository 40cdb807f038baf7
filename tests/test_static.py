"""Vendored assets are exactly the published files, and every page's assets exist."""
import hashlib
import re
from pathlib import Path

from chatbot.rendering import pygments_css

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
