"""The CPU one streamed reply costs to render: a 2,000-token markdown reply (headings,
prose, lists, code, tables), its text arriving a few tokens per live event as the runner
publishes it, turned into the fragments each open view is sent, then the finished message.

    .venv/bin/python bench/markdown_stream.py                     # this tree
    .venv/bin/python bench/markdown_stream.py --compare /tmp/old  # and another checkout, alternating

Before streaming markdown, a view was sent each event's text escaped, and the reply was
rendered once, when done. Now the runner also finds where finished blocks end (once per
reply) and each view renders each block as it finishes. The figure to watch: it must stay
proportional to the reply's length, not grow with the square of it as rendering the whole
text at every event would ("naive", printed for reference).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # PYTHONPATH, when given, wins: another checkout can be measured


def reply_text() -> str:
    """About 2,000 tokens of the markdown a model writes."""
    parts = []
    for n in range(1, 11):
        parts.append(f"## Step {n}: configure the thing\n\nThis step explains, in a paragraph of ordinary prose, "
                     f"why the setting matters and what happens when it is wrong. It mentions `option_{n}` "
                     "and **bold advice**, and links to [the manual](https://example.com/manual).")
        parts.append("\n".join(f"- item {k} of the list, with some *emphasis* and words" for k in range(4)))
        parts.append(f"```python\ndef step_{n}(value: int) -> int:\n    \"\"\"Do step {n}.\"\"\"\n"
                     f"    total = value * {n}\n    for k in range(10):\n        total += k\n    return total\n```")
        parts.append("| setting | default | meaning |\n|---|---|---|\n" +
                     "\n".join(f"| opt_{k} | {k * n} | what option {k} does |" for k in range(3)))
    return "\n\n".join(parts) + "\n\nThat is all."


def tokens(text: str) -> list[str]:
    """Pieces of about four characters, as a model's tokens are."""
    return [text[i:i + 4] for i in range(0, len(text), 4)]


def events(text: str, per_event: int) -> list[tuple[int, str]]:
    pieces, out, offset = tokens(text), [], 0
    for i in range(0, len(pieces), per_event):
        chunk = "".join(pieces[i:i + per_event])
        out.append((offset, chunk))
        offset += len(chunk)
    return out


def measure(per_event: int, views: int, replies: int) -> dict[str, float]:
    from chatbot import create_app
    from chatbot.live import render
    from chatbot.rendering import render_markdown
    from chatbot.store import COMPLETE, Message

    text = reply_text()
    stream = events(text, per_event)
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({"CHATBOT_ENV": "development", "SECRET_KEY": "bench", "INSTANCE_PATH": scratch,
                          "TESTING": True})
        with app.test_request_context("/"):
            streaming_markdown = hasattr(render, "reply_so_far")

            def one_reply(n: int) -> None:
                # A different text each time, so no cache of an earlier reply helps.
                reply = text.replace("Step", f"Step{n}-{per_event}-{views}")
                chunks = events(reply, per_event)
                message_id = f"m{n}"
                if streaming_markdown:
                    from chatbot.streaming_markdown import Follower, Settler, shown
                    settler = Settler()
                    followers = [Follower(shown("")) for _ in range(views)]
                    for offset, chunk in chunks:
                        settled = settler.add(chunk)
                        for view in followers:
                            if update := view.add(offset, chunk, settled):
                                render.reply_text(message_id, update)
                else:
                    for offset, chunk in chunks:
                        for _ in range(views):
                            render.reply_text(message_id, chunk, oob=True)
                final = Message(message_id, "c", "assistant", reply, COMPLETE, None, "bench", 10, 2000,
                                datetime.now(timezone.utc), seq=2)
                render.finished(final)

            def naive(n: int) -> None:
                reply = text.replace("Step", f"Naive{n}-{per_event}-{views}")
                so_far = ""
                for _, chunk in events(reply, per_event):
                    so_far += chunk
                    render_markdown(so_far)

            one_reply(-1)  # warm: templates compiled, lexers loaded
            results = {}
            # Naive is slow (seconds a reply): once, and for one case only.
            for name, work, count in (("reply", one_reply, replies), ("naive", naive, 1 if per_event == 5 else 0)):
                times = [0.0]
                for n in range(count):
                    started = time.process_time()
                    work(n)
                    times.append(time.process_time() - started)
                times = times[1:] or times
                results[name] = statistics.median(times) * 1000
    return {"events": len(stream), "chars": len(text), **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", help="another checkout to measure too, alternating with this one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one measurement, for --compare
    args = parser.parse_args()
    cases = [(1, 1), (5, 1), (5, 3)]  # (tokens per event, views)
    if args.json:
        print(json.dumps({f"{p}x{v}": measure(p, v, args.replies) for p, v in cases}))
        return
    trees = {"this tree": str(ROOT)} | ({"compare": args.compare} if args.compare else {})
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():  # alternating, as the machine drifts
            out = subprocess.run([sys.executable, __file__, "--json", "--replies", str(args.replies)],
                                 env={"PYTHONPATH": tree, "PATH": "/usr/bin:/bin"}, cwd=tree,
                                 capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out))
    first = next(iter(runs.values()))[0]
    print(f"reply: {first['1x1']['chars']:,} characters (~2,000 tokens); CPU ms per reply, median of "
          f"{args.replies} replies, then the median over {args.rounds} rounds")
    print(f"{'tree':10} {'tokens/event':>12} {'views':>5} {'events':>6} {'reply ms':>9} {'naive ms':>9}")
    for name, results in runs.items():
        for p, v in cases:
            key = f"{p}x{v}"
            print(f"{name:10} {p:>12} {v:>5} {results[0][key]['events']:>6} "
                  f"{statistics.median(r[key]['reply'] for r in results):>9.1f} "
                  f"{statistics.median(r[key]['naive'] for r in results):>9.1f}")


if __name__ == "__main__":
    main()
