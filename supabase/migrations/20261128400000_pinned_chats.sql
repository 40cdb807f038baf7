-- Pinned chats: kept at the top of the list. (Archived ones, out of it, have had their
-- column since the first migration.) The owner's RLS policies on chats cover it.
alter table public.chats add column pinned boolean not null default false;
