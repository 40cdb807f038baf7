-- Client ids on questions: every send carries an id its sender made (a UUID), so a send
-- repeated (a resubmitted form, a retried request, a socket message sent twice) is
-- recognised and makes no second turn, and the model is never asked twice.
--
-- The ids are each owner's own: the unique index is per owner, and a user reaches only
-- their own rows (RLS), so one user's id never finds, blocks or reveals another's turn.
-- Messages without one (replies, and sends made before this) hold null, which never
-- repeats anything.
alter table public.messages add column client_id text;
create unique index messages_client_id on public.messages (owner_id, client_id);

-- A send, for the app's REST calls (POST /rpc/append_turn): the user's question and the
-- empty reply that will stream into it, stored together or not at all, as append_messages
-- stores them (whose guarantees this keeps: the chat's row is locked while positions are
-- numbered, another user's chat is not found (P0002), a second streaming reply in a chat
-- is refused (23505)). Each row says whether the send was a repeat.
--
-- A repeat stores nothing and answers the turn its client id made, as it is now (its reply
-- may be streaming still or long finished). The unique index decides which send is first,
-- however they race: the question goes in with ON CONFLICT DO NOTHING, which waits for a
-- concurrent send with the same id to finish and yields to it if it was stored, so the
-- loser answers the winner's turn. (Sends into one chat queue on the chat's lock first,
-- so there the second simply finds the first; the index holds across chats and against
-- anything else that writes messages.) A client id the owner sent into another chat is
-- refused as a unique violation (23505), never answered with that chat's turn.
--
-- SECURITY INVOKER: the caller's RLS policies apply to every row read or written here.
create function public.append_turn(target_chat uuid, content text, model text, worker text,
                                   client_id text default null)
returns table (repeated boolean, message public.messages)
language plpgsql
security invoker
set search_path = ''
as $$
-- The arguments' names (PostgREST's, so the API's) are columns' names too: a bare name is
-- the column, an argument is written append_turn.<name>.
#variable_conflict use_column
declare
    question public.messages;
    last_seq integer;
    stamp timestamptz := now();
begin
    perform 1 from public.chats c where c.id = target_chat for update;
    if not found then
        raise exception 'chat % not found', target_chat using errcode = 'P0002';
    end if;
    select coalesce(max(m.seq), 0) into last_seq from public.messages m where m.chat_id = target_chat;

    -- The question first and alone: a repeat must be known before the reply meets the
    -- index that allows one streaming reply per chat (the first send's may be streaming).
    insert into public.messages (chat_id, role, content, status, created_at, seq, client_id)
    values (target_chat, 'user', append_turn.content, 'complete', stamp, last_seq + 1, append_turn.client_id)
    on conflict (owner_id, client_id) do nothing
    returning * into question;

    if not found then  -- a repeat: the question sent with this id, and the reply after it
        select m.* into question from public.messages m
         where m.owner_id = (select auth.uid()) and m.client_id = append_turn.client_id;
        if question.chat_id is distinct from target_chat then
            raise exception 'client id already sent into another chat'
                using errcode = 'unique_violation', constraint = 'messages_client_id';
        end if;
        return query
            select true, m from public.messages m
             where m.chat_id = target_chat and m.seq in (question.seq, question.seq + 1)
             order by m.seq;
        return;
    end if;

    update public.chats c set updated_at = stamp where c.id = target_chat;
    return query select false, question;
    return query
        insert into public.messages as m (chat_id, role, content, status, model, worker, created_at, seq)
        values (target_chat, 'assistant', '', 'streaming', append_turn.model, append_turn.worker, stamp, last_seq + 2)
        returning false, m;
end
$$;

revoke all on function public.append_turn(uuid, text, text, text, text) from public, anon;
grant execute on function public.append_turn(uuid, text, text, text, text) to authenticated;
