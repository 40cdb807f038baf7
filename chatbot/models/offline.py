"""The built-in offline responder: replies without any model, so a fresh clone can chat.

It is not a language model. It reads the user's last message, notices what kind of
message it is (a greeting, thanks, a question, a request for code, a statement), picks
out its key words and answers around them, reflecting "I" to "you" as ELIZA did. The UI
labels its replies so nobody mistakes them for a real model's.
"""
from __future__ import annotations

import re
import time
import zlib
from typing import Generator

from . import OnOpen, Piece, Usage, estimate_tokens, text_of
from .parameters import Parameters

_STOPWORDS = set("""
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just let me more most my myself no nor not now of off on once only or other our ours out
over own please same she should so some such than that the their them then there these
they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself tell know want need like think make
get give really thing things something much many way well okay ok hi hello hey thanks thank
went go goes going gone got getting been did done made said says came come take took see saw
feel felt last next first still even ever never always maybe lot lots bit kind sort today yesterday
""".split())

_REFLECTIONS = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "am": "are", "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd",
    "you": "I", "your": "my", "yours": "mine", "yourself": "myself", "you're": "I'm",
}

_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|greetings)\b", re.I)
_THANKS = re.compile(r"\b(thanks|thank you|cheers|appreciate)\b", re.I)
_CODE = re.compile(r"```|\b(code|function|script|regex|sql|bug|stack trace|exception)\b", re.I)
_QUESTION = re.compile(r"\?\s*$|^\s*(who|what|when|where|why|how|which|can|could|should|would|is|are|do|does|will)\b", re.I)


class OfflineResponder:
    name = "offline-responder"
    offline = True
    reasons = False

    def __init__(self, delay: float = 0.03) -> None:
        self.delay = delay  # seconds between tokens, so it streams like a model

    def stream(self, conversation: list[dict], on_open: OnOpen = None,
               parameters: Parameters | None = None) -> Generator[Piece, None, None]:
        # Nothing to abort: it pauses only briefly between tokens, and a stop is seen at the next.
        # No parameters either: it is no language model.
        said = next((text_of(m["content"]) for m in reversed(conversation) if m["role"] == "user"), "")
        reply = compose_reply(said, turn=sum(m["role"] == "user" for m in conversation))
        for token in re.findall(r"\S+\s*|\s+", reply):
            if self.delay:
                time.sleep(self.delay)
            yield token
        prompt = sum(estimate_tokens(text_of(m["content"])) for m in conversation)
        yield Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(reply))

    def title(self, question: str, reply: str) -> str:
        return compose_title(question)


# What a request opens with, which a title leaves out: "Tell me about tide pools" is about tide pools.
_REQUEST = re.compile(r"^\s*(?:(?:please|hi|hello|hey|so|ok(?:ay)?)(?:\s+there)?(?:[\s,!]+|$))*(?:(?:can|could|would|will) you\s+"
                      r"(?:please\s+)?)?(?:tell me (?:about|how)|explain|describe|help me(?: to)?|i (?:want|need|would"
                      r" like) to(?: know(?: about)?)?|how (?:do|can|should) i|what (?:is|are)|what's|who (?:is|was)"
                      r"|give me|show me|let's talk about|talk about)?\s*(?:the |an? )?", re.I)


def compose_title(said: str) -> str:
    """A short title for a chat that began with ``said``: its own words without the asking
    ("How do I reverse a list in Python?" -> "Reverse a list in Python"), or, for a long
    message, its key words in the order written."""
    sentence = re.split(r"(?<=[.!?])\s|\n", said.strip())[0].rstrip(".!?")
    rest = _REQUEST.sub("", sentence, count=1).strip(" ,:;-") or sentence
    words = rest.split()
    if not 0 < len(words) <= 7:
        order = {w.lower(): n for n, w in reversed(list(enumerate(re.findall(r"[A-Za-z][A-Za-z'-]*", said))))}
        words = sorted(keywords(said)[:4], key=lambda w: order.get(w.lower(), 0))
    title = " ".join(words)
    return title[:1].upper() + title[1:] if title else ""


def compose_reply(said: str, turn: int = 1) -> str:
    """Answer ``said`` in a few sentences built from its own key words."""
    words = keywords(said)
    topic = _join(words[:3]) if words else "that"
    pick = zlib.crc32(said.encode()) + turn  # stable, so the same message gets the same reply

    if not said.strip():
        return "I didn't catch anything there. What would you like to talk about?"
    if _GREETING.search(said) and len(said.split()) <= 6:
        return _choose(pick, [
            "Hello! I'm the offline responder built into this chat server. What's on your mind today?",
            "Hi there! Nice to meet you. What would you like to talk about?",
        ])
    if _THANKS.search(said):
        return _choose(pick, [
            "You're welcome! Is there anything else about " + topic + " you'd like to go over?",
            "Glad it helped. Anything else on your mind?",
        ])
    if _CODE.search(said):
        return (
            f"Code about **{topic}**, then. A few things I would settle before writing any:\n\n"
            f"1. What should it take as input, and what should it give back?\n"
            f"2. Which edge cases matter: empty input, very large input, bad data?\n"
            f"3. How will you test it?\n\n"
            "I'm the offline responder, so I can't write real code myself; "
            "connect a model (see the note above) and ask again for a working answer."
        )
    if _QUESTION.search(said):
        opener = _choose(pick, [
            f"That's a good question about {topic}.",
            f"You're asking about {topic}.",
            f"Interesting question: {topic}.",
        ])
        return (
            f"{opener} I can't look things up while offline, but here's how I would think it through:"
            f" what do you already know about {words[0] if words else 'it'}, and what would change"
            " if the answer went one way or the other? Tell me more and we can work through it."
        )
    reflected = reflect(said)
    return _choose(pick, [
        f"So {reflected}. What makes {topic} important to you right now?",
        f"I hear you: {reflected}. How do you feel about {topic}?",
        f"Tell me more about {topic}. What happened next?",
    ])


def keywords(text: str) -> list[str]:
    """The words that carry the message, longest first, without repeats."""
    seen: dict[str, str] = {}  # lower case -> the word as written ("Alps" stays "Alps")
    for word in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text):
        lower = word.lower()
        if lower not in _STOPWORDS and lower not in seen:
            seen[lower] = word if word[1:].islower() and word[0].isupper() else lower
    return sorted(seen.values(), key=len, reverse=True)


def reflect(text: str) -> str:
    """Turn the speaker's point of view around: "I lost my keys" -> "you lost your keys"."""
    sentence = re.split(r"(?<=[.!?])\s", text.strip())[0].rstrip(".!?")
    return " ".join(_REFLECTIONS.get(w.lower(), w) for w in sentence.split())


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _choose(pick: int, options: list[str]) -> str:
    return options[pick % len(options)]
