"""A deploy as an operator runs one: SIGTERM to one of two instances behind nginx, mid-reply.
The instance stops taking connections and tells its open chat sockets to go (1012); the
pages reconnect, through the proxy, to the other instance and catch up; the reply goes on
being written to its end within the graceful timeout, or, cut short at its end, is kept
with its text and marked interrupted. Nothing is lost either way."""
from __future__ import annotations

import signal
import time

import pytest

from chatbot.store import COMPLETE, INTERRUPTED
from tests.sse import ShownReply, events, text_of
from tests.test_scale_out import backing, ask_on_a, stored, two_instances  # noqa: F401 - the fixture

pytestmark = pytest.mark.server


def sigterm(instance) -> float:
    instance.process.send_signal(signal.SIGTERM)
    return time.monotonic()


@pytest.mark.parametrize("backing", ["redis"], indirect=True)
def test_a_deploy_mid_reply_loses_nothing_and_views_carry_on_from_the_other_instance(backing, tmp_path):
    with two_instances(backing, tmp_path, OFFLINE_TOKEN_DELAY="0.1", GRACEFUL_TIMEOUT="25") as cluster:
        ada, chat_id, on_a, reply = ask_on_a(cluster, "deploy@example.com")
        url = f"/chats/{chat_id}/messages/{reply['id']}/events?offset=0"
        stream = ada.http.get(cluster.a.url + url, stream=True, timeout=30)  # its event stream, on A too
        seen = ShownReply()
        for event in events(stream):
            seen.apply(event["data"])
            if event["id"]:
                last_id = event["id"]
                break
        stopping = sigterm(cluster.a)

        # The socket is told to go at once, and the page (here, the test) reconnects through
        # the proxy, which now reaches B: the reply so far, then the rest as A writes it.
        on_a.wait(lambda v: v.closed, timeout=5)
        assert on_a.close_code == 1012 and time.monotonic() - stopping < 3
        again = ada.open(chat_id, since=reply["seq"])
        done = again.wait(lambda v: v.messages.get(reply["id"], {}).get("status") == "complete", timeout=30)
        assert done
        # The event stream ends unfinished; resumed through the proxy from its last event, it goes on.
        for event in events(stream):
            seen.apply(event["data"])
        assert seen.final is None
        with ada.http.get(cluster.url + url, stream=True, timeout=30, headers={"Last-Event-ID": last_id}) as resumed:
            for event in events(resumed):
                seen.apply(event["data"])

        message = stored(cluster, "deploy@example.com", reply["id"])
        assert message.status == COMPLETE and message.content  # written to its end by A, as it stopped
        assert again.messages[reply["id"]]["text"].strip() == message.content.strip()
        # The stream resumed ends with the finished reply, whole (it was done by then, or ended meanwhile).
        assert seen.final and text_of(seen.final.split('<footer')[0]).split() == ["The", "assistant", "said",
                                                                                 *message.content.split()]
        assert cluster.a.process.wait(timeout=30) == 0  # A left on its own, within its graceful timeout
        assert "SIGKILL" not in cluster.a.output() and "Traceback" not in cluster.a.output()


@pytest.mark.parametrize("backing", ["redis"], indirect=True)
def test_a_reply_longer_than_the_graceful_timeout_is_kept_and_marked_interrupted(backing, tmp_path):
    with two_instances(backing, tmp_path, OFFLINE_TOKEN_DELAY="0.4", GRACEFUL_TIMEOUT="5") as cluster:
        ada, chat_id, on_a, reply = ask_on_a(cluster, "cut@example.com")
        sigterm(cluster.a)
        on_a.wait(lambda v: v.closed, timeout=5)
        on_b = ada.open(chat_id, since=reply["seq"], via=cluster.b.url)
        ended = on_b.wait(lambda v: v.messages.get(reply["id"], {}).get("status") == "interrupted", timeout=15)
        assert ended and cluster.a.process.wait(timeout=15) == 0
        message = stored(cluster, "cut@example.com", reply["id"])
        assert message.status == INTERRUPTED and message.content  # its text kept
        assert message.error == "The server restarted while this reply was being written."
        assert on_b.messages[reply["id"]]["text"].strip() == message.content.strip()
        assert "1 replies cut short" in cluster.a.output() and "SIGKILL" not in cluster.a.output()
        page = ada.http.get(f"{cluster.b.url}/chats/{chat_id}").text
        assert "The server restarted while this reply was being written." in page and 'aria-label="Retry"' in page
