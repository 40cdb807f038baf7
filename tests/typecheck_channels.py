"""Read by mypy only (tests/test_types.py): every channel is a Channel, statically."""
from __future__ import annotations

from chatbot.live.channel import Channel
from chatbot.live.memory import InProcessChannel
from chatbot.live.postgres import PostgresChannel
from chatbot.live.redis import RedisChannel


def every_channel(memory: InProcessChannel, redis: RedisChannel, postgres: PostgresChannel) -> list[Channel]:
    return [memory, redis, postgres]
