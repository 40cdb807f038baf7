"""Session records in Redis (SESSION_STORE=redis): each one a hash that Redis itself expires
when the session does, plus a per-user index for the account page and "log out everywhere".

Scripts keep each change whole: a session ended in one process is never half-recreated by a
request finishing in another."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any, cast

import redis

from .sessions import SessionRecord, decode, encode

PREFIX = "chatbot:session:"
USER_PREFIX = "chatbot:user-sessions:"

# KEYS: session, user index. ARGV: id, token hash, user, data, now, expires, absolute, remember, agent, address.
_CREATE = """
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'user_id', ARGV[3], 'data', ARGV[4], 'created_at', ARGV[5],
           'last_seen_at', ARGV[5], 'expires_at', ARGV[6], 'absolute_at', ARGV[7], 'remember', ARGV[8],
           'user_agent', ARGV[9], 'address', ARGV[10])
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[6]) * 1000))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local index_for = math.ceil((tonumber(ARGV[7]) - tonumber(ARGV[5])) * 1000)  -- the longest session's life
if redis.call('PTTL', KEYS[2]) < index_for then redis.call('PEXPIRE', KEYS[2], index_for) end
"""
# KEYS: session. ARGV: now, idle seconds, data or "" (unchanged), "1" if data is given.
_SAVE = """
local fields = redis.call('HMGET', KEYS[1], 'expires_at', 'absolute_at')
if not fields[1] or tonumber(fields[1]) <= tonumber(ARGV[1]) then return 0 end
local expires = math.min(tonumber(ARGV[1]) + tonumber(ARGV[2]), tonumber(fields[2]))
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1], 'expires_at', tostring(expires))
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'data', ARGV[3]) end
redis.call('PEXPIREAT', KEYS[1], math.ceil(expires * 1000))
return 1
"""
# KEYS: session. ARGV: now, user prefix. Returns the public id if it was running.
_END = """
local fields = redis.call('HMGET', KEYS[1], 'id', 'user_id', 'expires_at')
if not fields[1] then return false end
redis.call('DEL', KEYS[1])
redis.call('HDEL', ARGV[2] .. fields[2], fields[1])
if tonumber(fields[3]) > tonumber(ARGV[1]) then return fields[1] end
return false
"""
# KEYS: user index. ARGV: session prefix, id to keep (or ""). Returns the ended ids.
_END_USER = """
local ended = {}
local index = redis.call('HGETALL', KEYS[1])
for i = 1, #index, 2 do
  if index[i] ~= ARGV[2] then
    if redis.call('DEL', ARGV[1] .. index[i + 1]) == 1 then table.insert(ended, index[i]) end
    redis.call('HDEL', KEYS[1], index[i])
  end
end
return ended
"""


def _stamp(value: bytes | str | float) -> datetime:
    return datetime.fromtimestamp(float(value), timezone.utc)


def _record(fields: dict[bytes, bytes]) -> SessionRecord:
    text = {key.decode(): value.decode() for key, value in fields.items()}
    return SessionRecord(text["id"], text["user_id"], decode(text["data"]), _stamp(text["created_at"]),
                         _stamp(text["last_seen_at"]), _stamp(text["expires_at"]), text["remember"] == "1",
                         text["user_agent"], text["address"])


class RedisSessions:
    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._create = self.redis.register_script(_CREATE)
        self._save = self.redis.register_script(_SAVE)
        self._end = self.redis.register_script(_END)
        self._end_user = self.redis.register_script(_END_USER)

    def create(self, token_hash: str, user_id: str, data: dict[str, Any], *, idle: float, absolute: float,
               remember: bool, user_agent: str, address: str) -> SessionRecord:
        stamp = time.time()
        absolute_at = stamp + absolute
        expires_at = min(stamp + idle, absolute_at)
        record = SessionRecord(str(uuid.uuid4()), user_id, data, _stamp(stamp), _stamp(stamp), _stamp(expires_at),
                               remember, user_agent, address)
        self._create(keys=[PREFIX + token_hash, USER_PREFIX + user_id],
                     args=[record.id, token_hash, user_id, encode(data), repr(stamp), repr(expires_at),
                           repr(absolute_at), "1" if remember else "0", user_agent, address])
        return record

    def load(self, token_hash: str) -> SessionRecord | None:
        fields = cast(dict, self.redis.hgetall(PREFIX + token_hash))  # the sync client's answer
        if not fields or float(fields[b"expires_at"]) <= time.time():
            return None
        return _record(fields)

    def save(self, token_hash: str, data: dict[str, Any] | None, *, idle: float) -> None:
        self._save(keys=[PREFIX + token_hash],
                   args=[repr(time.time()), repr(idle), "" if data is None else encode(data),
                         "0" if data is None else "1"])

    def end(self, token_hash: str) -> str | None:
        ended = self._end(keys=[PREFIX + token_hash], args=[repr(time.time()), USER_PREFIX])
        return ended.decode() if ended else None

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        return [i.decode() for i in self._end_user(keys=[USER_PREFIX + user_id], args=[PREFIX, keep or ""])]

    def end_session(self, user_id: str, session_id: str) -> bool:
        token_hash = cast(bytes | None, self.redis.hget(USER_PREFIX + user_id, session_id))
        return token_hash is not None and self.end(token_hash.decode()) == session_id

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        index = cast(dict, self.redis.hgetall(USER_PREFIX + user_id))
        pipe = self.redis.pipeline(transaction=False)
        for token_hash in index.values():
            pipe.hgetall(PREFIX + token_hash.decode())
        now = time.time()
        running = [_record(fields) for fields in pipe.execute()
                   if fields and float(fields[b"expires_at"]) > now]
        gone = set(i.decode() for i in index) - {r.id for r in running}
        if gone:
            self.redis.hdel(USER_PREFIX + user_id, *gone)
        return sorted(running, key=lambda r: r.last_seen_at, reverse=True)
