"""Fakes at the seams, for tests that need a model to behave in a given way."""
from chatbot.models import ModelError, Usage


class ScriptedModel:
    """A fake at the model seam: yields its pieces, optionally fails, records what it saw."""
    name = "scripted"
    offline = False
    reasons = False

    def __init__(self, pieces=("Hi", " there"), error=None, gate=None, on_start=None, title="Scripted title"):
        self.pieces, self.error, self.gate, self.on_start = pieces, error, gate, on_start
        self.conversations = []
        self.title_text = title  # what it names a chat (an exception: it fails to)
        self.titles = []  # the (question, reply) of every title asked for

    def title(self, question, reply):
        self.titles.append((question, reply))
        if isinstance(self.title_text, Exception):
            raise self.title_text
        return self.title_text

    def stream(self, conversation, on_open=None, parameters=None):
        self.conversations.append(conversation)
        self.parameters = parameters  # as the last request was asked for
        if self.on_start:
            self.on_start()
        for piece in self.pieces:
            if self.gate:
                self.gate.wait(5)
            yield piece
        if self.error:
            raise ModelError(self.error)
        yield Usage(7, 2)
