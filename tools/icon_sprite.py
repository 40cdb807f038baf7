"""Build chatbot/static/icons-lucide-<version>.svg, the one sprite of the icons the pages use,
from the npm package lucide-static (ISC licence):

    cd /tmp && npm pack lucide-static@1.62.0 && tar xzf lucide-static-1.62.0.tgz
    python tools/icon_sprite.py /tmp/package

Each icon is a <symbol> (id = our name), used as <svg><use href="…#name"></svg>: one cached
request for every icon, and no inline SVG repeated in every message.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ICONS = {  # our name: Lucide's
    "menu": "menu", "new-chat": "square-pen", "copy": "copy", "copied": "check", "regenerate": "refresh-cw",
    "stop": "square", "send": "arrow-up", "attach": "paperclip", "edit": "pencil", "settings": "settings-2",
    "delete": "trash-2", "close": "x", "help": "circle-help", "file": "file-text", "previous": "chevron-left",
    "next": "chevron-right", "continue": "chevrons-right", "search": "search", "pin": "pin", "unpin": "pin-off",
    "archive": "archive", "unarchive": "archive-restore", "folder": "folder", "more": "ellipsis", "share": "share-2",
    "download": "download", "upload": "upload",
}


def main(package: Path) -> None:
    version = json.loads((package / "package.json").read_text())["version"]
    symbols = []
    for name, lucide in ICONS.items():
        svg = (package / "icons" / f"{lucide}.svg").read_text()
        body = re.search(r"<svg[^>]*>(.*)</svg>", svg, re.S)[1]
        shapes = " ".join(line.strip() for line in body.strip().splitlines())
        symbols.append(f'<symbol id="{name}" viewBox="0 0 24 24">{shapes}</symbol>')
    sprite = (f"<!-- Lucide icons (lucide-static {version}, ISC licence: icons-lucide-LICENSE.txt), "
              "built by tools/icon_sprite.py -->\n"
              '<svg xmlns="http://www.w3.org/2000/svg" fill="none" stroke="currentColor" stroke-width="2" '
              'stroke-linecap="round" stroke-linejoin="round">\n' + "\n".join(symbols) + "\n</svg>\n")
    static = Path(__file__).resolve().parent.parent / "chatbot" / "static"
    (static / f"icons-lucide-{version}.svg").write_text(sprite)
    (static / "icons-lucide-LICENSE.txt").write_text((package / "LICENSE").read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
