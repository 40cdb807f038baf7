"""Topic names, in one place. A view of a chat follows its chat's and its user's topics, and
the topic of each reply being written; each process follows its own, for stop requests."""
from __future__ import annotations


def chat(chat_id: str) -> str:
    return f"chat:{chat_id}"


def user(owner_id: str) -> str:
    return f"user:{owner_id}"


def reply(message_id: str) -> str:
    return f"reply:{message_id}"


def process(worker: str) -> str:
    return f"process:{worker}"
