-- Appending messages to a chat, for the app's REST calls (POST /rest/v1/rpc/append_messages).
--
-- One call is one transaction, so a user's message and the empty reply that will stream
-- into it are stored together or not at all, and regenerating swaps the old reply for the
-- new one in one step. The chat row is locked while positions are numbered, so parallel
-- calls into one chat queue instead of colliding; a second streaming reply is still refused
-- by the unique index (SQLSTATE 23505). SECURITY INVOKER: the caller's RLS policies apply
-- to every row read or written here; another user's chat is simply not found (P0002).
create function public.append_messages(target_chat uuid, new_messages jsonb, replacing uuid default null)
returns setof public.messages
language plpgsql
security invoker
set search_path = ''
as $$
declare
    last_seq integer;
    stamp timestamptz := now();
begin
    perform 1 from public.chats c where c.id = target_chat for update;
    if not found then
        raise exception 'chat % not found', target_chat using errcode = 'P0002';
    end if;
    if replacing is not null then
        delete from public.messages m where m.id = replacing and m.chat_id = target_chat;
    end if;
    select coalesce(max(m.seq), 0) into last_seq from public.messages m where m.chat_id = target_chat;
    update public.chats c set updated_at = stamp where c.id = target_chat;
    return query
        insert into public.messages (chat_id, role, content, status, model, worker, created_at, seq)
        select target_chat, x.role, x.content, x.status, x.model, x.worker, stamp, last_seq + x.n::integer
        from rows from (jsonb_to_recordset(new_messages)
                        as (role text, content text, status text, model text, worker text))
             with ordinality as x(role, content, status, model, worker, n)
        order by x.n
        returning *;
end
$$;

revoke all on function public.append_messages(uuid, jsonb, uuid) from public, anon;
grant execute on function public.append_messages(uuid, jsonb, uuid) to authenticated;
