-- Conversations become trees. Each message has a parent (the message it follows) and each
-- chat a current leaf (the last message of the version shown), so an edited message or a
-- regenerated reply is a new version beside the old one, which stays. The conversation
-- shown, and given to the model, is the path from the chat's first message to its leaf.
-- Existing chats become one branch: each message's parent is the one before it, the leaf
-- the last one.
--
-- Also, for what comes with models: a chat's model parameters, and why a reply ended
-- (finish_reason "length": the model's output limit cut it off, which Continue carries on from).
--
-- Every function here is SECURITY INVOKER: the caller's RLS policies apply to every row it
-- reads or writes, so a user walks, extends and switches only their own chats' trees;
-- another user's chat or message is simply not found (P0002).
alter table public.messages add column parent_id uuid, add column finish_reason text;
alter table public.chats add column current_leaf uuid, add column parameters jsonb not null default '{}';

update public.messages m
   set parent_id = (select p.id from public.messages p
                     where p.chat_id = m.chat_id and p.seq < m.seq order by p.seq desc limit 1);
update public.chats c
   set current_leaf = (select m.id from public.messages m where m.chat_id = c.id order by m.seq desc limit 1);

-- A message's versions (its parent's children), and a chat's first messages (no parent).
create index messages_children on public.messages (chat_id, parent_id, seq);

-- Messages appended after the chat's leaf (the last becomes the leaf), in one transaction.
drop function public.append_messages(uuid, jsonb, uuid);
create function public.append_messages(target_chat uuid, new_messages jsonb)
returns setof public.messages
language plpgsql
security invoker
set search_path = ''
as $$
declare
    leaf uuid;
    last_seq integer;
    stamp timestamptz := now();
    x record;
    added public.messages;
begin
    select c.current_leaf into leaf from public.chats c where c.id = target_chat for update;
    if not found then
        raise exception 'chat % not found', target_chat using errcode = 'P0002';
    end if;
    select coalesce(max(m.seq), 0) into last_seq from public.messages m where m.chat_id = target_chat;
    for x in select * from jsonb_to_recordset(new_messages)
                 as (role text, content text, status text, model text, worker text) loop
        last_seq := last_seq + 1;
        insert into public.messages (chat_id, role, content, status, model, worker, created_at, seq, parent_id)
        values (target_chat, x.role, x.content, x.status, x.model, x.worker, stamp, last_seq, leaf)
        returning * into added;
        leaf := added.id;
        return next added;
    end loop;
    update public.chats c set updated_at = stamp, current_leaf = leaf where c.id = target_chat;
end
$$;

revoke all on function public.append_messages(uuid, jsonb) from public, anon;
grant execute on function public.append_messages(uuid, jsonb) to authenticated;

-- A send (see 20261127300000_client_ids.sql, whose guarantees this keeps): the question
-- follows the chat's leaf or, with edit_of (a user message of the chat), is a new version
-- of that one, following its parent; the reply follows the question and becomes the leaf.
drop function public.append_turn(uuid, text, text, text, text);
create function public.append_turn(target_chat uuid, content text, model text, worker text,
                                   client_id text default null, edit_of uuid default null)
returns table (repeated boolean, message public.messages)
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    question public.messages;
    answer public.messages;
    parent uuid;
    last_seq integer;
    stamp timestamptz := now();
begin
    select c.current_leaf into parent from public.chats c where c.id = target_chat for update;
    if not found then
        raise exception 'chat % not found', target_chat using errcode = 'P0002';
    end if;
    if append_turn.edit_of is not null then
        select m.parent_id into parent from public.messages m
         where m.id = append_turn.edit_of and m.chat_id = target_chat and m.role = 'user';
        if not found then
            raise exception 'message % not found', append_turn.edit_of using errcode = 'P0002';
        end if;
    end if;
    select coalesce(max(m.seq), 0) into last_seq from public.messages m where m.chat_id = target_chat;

    insert into public.messages (chat_id, role, content, status, created_at, seq, client_id, parent_id)
    values (target_chat, 'user', append_turn.content, 'complete', stamp, last_seq + 1, append_turn.client_id, parent)
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

    insert into public.messages as m (chat_id, role, content, status, model, worker, created_at, seq, parent_id)
    values (target_chat, 'assistant', '', 'streaming', append_turn.model, append_turn.worker, stamp, last_seq + 2,
            question.id)
    returning * into answer;
    update public.chats c set updated_at = stamp, current_leaf = answer.id where c.id = target_chat;
    return query select false, question;
    return query select false, answer;
end
$$;

revoke all on function public.append_turn(uuid, text, text, text, text, uuid) from public, anon;
grant execute on function public.append_turn(uuid, text, text, text, text, uuid) to authenticated;

-- Regenerate: an empty streaming reply as a new version of reply ``reply`` (which stays),
-- following the same question; it becomes the leaf. A second streaming reply in the chat
-- is refused by the unique index (23505).
create function public.add_reply_version(target_chat uuid, reply uuid, model text, worker text)
returns setof public.messages
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    parent uuid;
    last_seq integer;
    answer public.messages;
    stamp timestamptz := now();
begin
    perform 1 from public.chats c where c.id = target_chat for update;
    if not found then
        raise exception 'chat % not found', target_chat using errcode = 'P0002';
    end if;
    select m.parent_id into parent from public.messages m
     where m.id = add_reply_version.reply and m.chat_id = target_chat and m.role = 'assistant';
    if not found then
        raise exception 'reply % not found', add_reply_version.reply using errcode = 'P0002';
    end if;
    select coalesce(max(m.seq), 0) into last_seq from public.messages m where m.chat_id = target_chat;
    insert into public.messages as m (chat_id, role, content, status, model, worker, created_at, seq, parent_id)
    values (target_chat, 'assistant', '', 'streaming', add_reply_version.model, add_reply_version.worker, stamp,
            last_seq + 1, parent)
    returning * into answer;
    update public.chats c set updated_at = stamp, current_leaf = answer.id where c.id = target_chat;
    return next answer;
end
$$;

revoke all on function public.add_reply_version(uuid, uuid, text, text) from public, anon;
grant execute on function public.add_reply_version(uuid, uuid, text, text) to authenticated;

-- The conversation shown: the path to the chat's leaf (or, with before_seq, to the parent
-- of the message at that seq: a page further back), its newest ``newest`` messages (all:
-- null), oldest first, each with which of its versions it is and of how many.
create function public.chat_path(target_chat uuid, newest integer default null, before_seq integer default null)
returns table (message public.messages, version integer, versions integer)
language sql
stable
security invoker
set search_path = ''
as $$
    with recursive walk (id, parent_id, depth) as (
        select m.id, m.parent_id, 1
          from public.messages m
         where m.chat_id = target_chat
           and m.id = case when before_seq is null
                           then (select c.current_leaf from public.chats c where c.id = target_chat)
                           else (select b.parent_id from public.messages b
                                  where b.chat_id = target_chat and b.seq = before_seq) end
        union all
        select up.id, up.parent_id, walk.depth + 1
          from public.messages up join walk on up.id = walk.parent_id
         where up.chat_id = target_chat and walk.depth < coalesce(newest, 2147483647)
    )
    select m,
           (select count(*)::integer from public.messages s
             where s.chat_id = m.chat_id and s.seq <= m.seq
               and (case when m.parent_id is null then s.parent_id is null else s.parent_id = m.parent_id end)),
           (select count(*)::integer from public.messages s
             where s.chat_id = m.chat_id
               and (case when m.parent_id is null then s.parent_id is null else s.parent_id = m.parent_id end))
      from public.messages m join walk on m.id = walk.id
     order by m.seq
$$;

revoke all on function public.chat_path(uuid, integer, integer) from public, anon;
grant execute on function public.chat_path(uuid, integer, integer) to authenticated;

-- Show the version ``step`` places from message ``shown`` (-1: the one before): the chat's
-- leaf becomes the newest message under it. Its id, or null if there is none there.
create function public.show_version(target_chat uuid, shown uuid, step integer)
returns uuid
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    parent uuid;
    versions uuid[];
    place integer;
    chosen uuid;
    leaf uuid;
begin
    perform 1 from public.chats c where c.id = target_chat for update;
    if not found then
        return null;
    end if;
    select m.parent_id into parent from public.messages m where m.id = shown and m.chat_id = target_chat;
    if not found then
        return null;
    end if;
    select array_agg(m.id order by m.seq) into versions from public.messages m
     where m.chat_id = target_chat
       and (case when parent is null then m.parent_id is null else m.parent_id = parent end);
    place := array_position(versions, shown) + step;
    if place < 1 or place > cardinality(versions) then
        return null;
    end if;
    chosen := versions[place];
    with recursive down (id, seq) as (
        select m.id, m.seq from public.messages m where m.id = chosen
        union all
        select child.id, child.seq from public.messages child join down on child.parent_id = down.id
         where child.chat_id = target_chat
    )
    select down.id into leaf from down order by down.seq desc limit 1;
    update public.chats c set current_leaf = leaf where c.id = target_chat;
    return chosen;
end
$$;

revoke all on function public.show_version(uuid, uuid, integer) from public, anon;
grant execute on function public.show_version(uuid, uuid, integer) to authenticated;
