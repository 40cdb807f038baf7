"""The type checker keeps the seams honest: the live channels against their contract, and
the live, conversation and accounts packages and the chat, preset and search services
throughout."""
import subprocess
import sys

from tests.servers import ROOT


def test_the_live_side_the_runner_and_the_accounts_type_check():
    checked = ["chatbot/live", "chatbot/conversation", "chatbot/accounts", "chatbot/admin.py", "chatbot/account.py",
               "chatbot/export.py", "chatbot/chats.py", "chatbot/presets.py", "chatbot/search.py",
               "chatbot/sqlsearch.py", "chatbot/folders.py", "chatbot/shares.py", "chatbot/imports.py", "tests/typecheck_channels.py", "tests/typecheck_accounts.py"]
    result = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
                             "--cache-dir", str(ROOT / ".cache" / "mypy"), *checked],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
