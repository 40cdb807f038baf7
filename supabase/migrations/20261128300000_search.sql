-- Full-text search over one's chat titles and messages, newest first, with the words found
-- marked in a snippet. The 'simple' configuration: no language's stemming, one behaviour
-- for every language.

-- Each finished message's words, in a narrow table of their own (the messages' rows, which
-- chat_path and the append functions return whole, stay as they were), kept by a trigger:
-- a reply being written has no row until it is done, so its many updates cost nothing.
create table public.message_words (
    message_id uuid primary key references public.messages (id) on delete cascade,
    owner_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz not null,
    words tsvector not null
);
create index message_words_search on public.message_words using gin (words);
create index message_words_recent on public.message_words (owner_id, created_at);
create index chats_search on public.chats using gin (to_tsvector('simple', title));

-- Users read their own rows (for search_chats, which runs as them); only the trigger writes.
alter table public.message_words enable row level security;
revoke all on public.message_words from anon, authenticated;
grant select on public.message_words to authenticated;
create policy "owner reads message words" on public.message_words for select to authenticated
    using (owner_id = (select auth.uid()));

-- SECURITY DEFINER: it writes the words of the message the caller's own insert or update
-- made (RLS has already let that through), which the caller may not write directly.
create function public.index_message_words()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.status = 'streaming' then
        delete from public.message_words w where w.message_id = new.id;
    else
        insert into public.message_words (message_id, owner_id, created_at, words)
        values (new.id, new.owner_id, new.created_at, to_tsvector('simple', new.content))
        on conflict (message_id) do update set words = excluded.words;
    end if;
    return null;
end
$$;
revoke all on function public.index_message_words() from public, anon, authenticated;

create trigger messages_words_insert after insert on public.messages
    for each row when (new.status <> 'streaming') execute function public.index_message_words();
create trigger messages_words_update after update of content, status on public.messages
    for each row when (old.status <> 'streaming' or new.status <> 'streaming')
    execute function public.index_message_words();

insert into public.message_words (message_id, owner_id, created_at, words)
select m.id, m.owner_id, m.created_at, to_tsvector('simple', m.content) from public.messages m
 where m.status <> 'streaming';

-- query: a tsquery in to_tsquery's syntax, as the app builds it (each word quoted, the last
-- a prefix); mark_start and mark_end go around each word found. Titles (message_id null),
-- then messages, at most max_results of each, newest first. SECURITY INVOKER: it runs as the
-- signed-in user, so RLS decides what it sees; it also names the caller's rows, so the
-- indexes narrow the search. Messages are looked for among the caller's newest 20,000 first
-- (walked by time: a common word fills the page at once), and through the GIN index only
-- when those hold fewer than max_results (a word that rare has few matches to sort),
-- gathered first (MATERIALIZED: left to itself the planner may walk every message by time
-- for a rare word). Either way alone is slow for the other kind of word.
create function public.search_chats(query text, mark_start text, mark_end text, max_results integer default 20)
returns table (chat_id uuid, title text, snippet text, created_at timestamptz, message_id uuid, seq integer,
               role text)
language sql
stable
security invoker
set search_path = ''
as $$
    with words as (select to_tsquery('simple', query) as q),
    recent as (
        select r.message_id, r.created_at
          from (select w.message_id, w.created_at, w.words from public.message_words w
                 where w.owner_id = (select auth.uid())
                 order by w.created_at desc limit 20000) r, words
         where r.words @@ words.q
         order by r.created_at desc, r.message_id
         limit max_results),
    matched as materialized (
        select w.message_id, w.created_at from public.message_words w, words
         where (select count(*) from recent) < max_results
           and w.words @@ words.q and w.owner_id = (select auth.uid())),
    hits as (
        select recent.message_id from recent where (select count(*) from recent) >= max_results
        union all
        (select matched.message_id from matched
          order by matched.created_at desc, matched.message_id
          limit max_results))
    (select c.id, c.title::text,
            ts_headline('simple', c.title, words.q,
                        format('StartSel=%s, StopSel=%s, HighlightAll=true', mark_start, mark_end)),
            c.updated_at, null::uuid, null::integer, null::text
       from public.chats c, words
      where to_tsvector('simple', c.title) @@ words.q
        and c.owner_id = (select auth.uid())
      order by c.updated_at desc, c.id
      limit max_results)
    union all
    (select m.chat_id, c.title::text,
            ts_headline('simple', m.content, words.q,
                        format('StartSel=%s, StopSel=%s, MaxWords=16, MinWords=6, MaxFragments=1, '
                               'FragmentDelimiter=…', mark_start, mark_end)),
            m.created_at, m.id, m.seq, m.role::text
       from hits join public.messages m on m.id = hits.message_id join public.chats c on c.id = m.chat_id, words
      order by m.created_at desc, m.id)
$$;

revoke all on function public.search_chats(text, text, text, integer) from public, anon;
grant execute on function public.search_chats(text, text, text, integer) to authenticated;
