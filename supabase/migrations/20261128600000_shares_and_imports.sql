-- Share links: a read-only snapshot of a chat that anyone with its link may read. The
-- owner makes, lists and revokes (deletes) their links under Row Level Security; a snapshot
-- is never changed (no update is granted). Nobody reads the table but its owner: a link's
-- reader, who may have no account, gets one snapshot through shared_chat(token), which
-- finds a row by its token alone and returns only that row's snapshot.

create table public.shares (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    chat_id uuid not null references public.chats (id) on delete cascade,
    token varchar(64) not null unique,
    title varchar(200) not null,
    with_files boolean not null,
    message_count integer not null,
    messages jsonb not null,
    created_at timestamptz not null default now()
);
create index shares_owner on public.shares (owner_id, created_at);
create index shares_chat on public.shares (chat_id);

alter table public.shares enable row level security;
revoke all on public.shares from anon, authenticated;
grant select, insert, delete on public.shares to authenticated;

create policy "owner reads shares" on public.shares for select to authenticated
    using (owner_id = (select auth.uid()));
-- A link shares only a chat of the owner's own.
create policy "owner shares own chats" on public.shares for insert to authenticated
    with check (owner_id = (select auth.uid())
                and exists (select 1 from public.chats c where c.id = chat_id and c.owner_id = (select auth.uid())));
create policy "owner revokes shares" on public.shares for delete to authenticated
    using (owner_id = (select auth.uid()));

-- The snapshot behind a link, for anyone who has the link (anon included). SECURITY DEFINER
-- so that it reads past RLS, and so it must give no more than the one row whose token it
-- was given: not its owner, and nothing of any chat.
create function public.shared_chat(share_token text)
returns table (id uuid, chat_id uuid, token varchar, title varchar, with_files boolean, message_count integer,
               messages jsonb, created_at timestamptz)
language sql stable security definer set search_path = ''
as $$
    select s.id, s.chat_id, s.token, s.title, s.with_files, s.message_count, s.messages, s.created_at
    from public.shares s
    where s.token = share_token
$$;
revoke all on function public.shared_chat(text) from public;
grant execute on function public.shared_chat(text) to anon, authenticated;

-- Where an imported chat came from: importing the same file twice adds nothing.
alter table public.chats add column import_key varchar(200);
create unique index chats_owner_import_key on public.chats (owner_id, import_key);

-- Chats brought in whole (an import, or a shared chat continued), all of them in one
-- transaction or none. SECURITY INVOKER: every row is written as the caller, under the
-- tables' policies (their own chats, messages and attachments only). Each message's id in
-- the argument only says who follows whom; every row gets a new id here. Returns, for each
-- chat, its id and whether it is new (a key imported before returns the earlier chat).
create function public.import_chats(new_chats jsonb)
returns table (key text, chat_id uuid, is_new boolean)
language plpgsql security invoker set search_path = ''
as $$
#variable_conflict use_column
declare
    chat jsonb;
    message jsonb;
    ids jsonb;
    made uuid;
    seq integer;
begin
    for chat in select value from jsonb_array_elements(new_chats) loop
        key := chat->>'key';
        select c.id into chat_id from public.chats c where c.owner_id = (select auth.uid()) and c.import_key = key;
        if found then
            is_new := false;
            return next;
            continue;
        end if;
        select coalesce(jsonb_object_agg(m->>'id', gen_random_uuid()), '{}') into ids
            from jsonb_array_elements(chat->'messages') m;
        made := gen_random_uuid();
        insert into public.chats (id, owner_id, title, model, system_prompt, parameters, created_at, updated_at,
                                  archived, import_key)
        values (made, (select auth.uid()), chat->>'title', chat->>'model', coalesce(chat->>'system_prompt', ''),
                coalesce(chat->'parameters', '{}'), (chat->>'created_at')::timestamptz,
                (chat->>'updated_at')::timestamptz, coalesce((chat->>'archived')::boolean, false), key);
        seq := 0;
        for message in select value from jsonb_array_elements(chat->'messages') loop
            seq := seq + 1;
            insert into public.messages (id, chat_id, owner_id, role, content, status, error, model, prompt_tokens,
                                         completion_tokens, created_at, seq, parent_id, finish_reason)
            values ((ids->>(message->>'id'))::uuid, made, (select auth.uid()), message->>'role', message->>'content',
                    message->>'status', message->>'error', message->>'model',
                    (message->>'prompt_tokens')::integer, (message->>'completion_tokens')::integer,
                    (message->>'created_at')::timestamptz, seq, (ids->>(message->>'parent_id'))::uuid,
                    message->>'finish_reason');
            insert into public.attachments (message_id, chat_id, owner_id, storage_key, name, content_type, size,
                                            created_at)
            select (ids->>(message->>'id'))::uuid, made, (select auth.uid()), a->>'storage_key', a->>'name',
                   a->>'content_type', (a->>'size')::integer, (message->>'created_at')::timestamptz
            from jsonb_array_elements(coalesce(message->'attachments', '[]')) a;
        end loop;
        update public.chats set current_leaf = (ids->>(chat->>'current_leaf'))::uuid where id = made;
        chat_id := made;
        is_new := true;
        return next;
    end loop;
end
$$;
revoke all on function public.import_chats(jsonb) from public, anon;
grant execute on function public.import_chats(jsonb) to authenticated;
