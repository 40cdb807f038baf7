"""The live side: typed events, topics, the channel (in-process, Redis, PostgreSQL), the
renderer from event to fragment, and the views that deliver them (the chat page's
WebSocket, a reply's server-sent events)."""
