-- Full-text search over one's chat titles and messages, newest first, with the words found
-- marked in a snippet. SECURITY INVOKER: it runs as the signed-in user, so Row Level
-- Security decides what it can see; it also asks for the caller's rows by name, so the
-- indexes narrow the search. A reply still being written is left out until it is done.
-- The 'simple' configuration: no language's stemming, one behaviour for every language.

create index messages_search on public.messages using gin (to_tsvector('simple', content))
    where status <> 'streaming';
create index chats_search on public.chats using gin (to_tsvector('simple', title));

-- query: a tsquery in to_tsquery's syntax, as the app builds it (each word quoted, the last
-- a prefix); mark_start and mark_end go around each word found. Titles first (message_id
-- null), then messages, each newest first, at most max_results of each.
create function public.search_chats(query text, mark_start text, mark_end text, max_results integer default 20)
returns table (chat_id uuid, title text, snippet text, created_at timestamptz, message_id uuid, seq integer,
               role text)
language sql
stable
security invoker
set search_path = ''
as $$
    (select c.id, c.title::text,
            ts_headline('simple', c.title, to_tsquery('simple', query),
                        format('StartSel=%s, StopSel=%s, HighlightAll=true', mark_start, mark_end)),
            c.updated_at, null::uuid, null::integer, null::text
       from public.chats c
      where to_tsvector('simple', c.title) @@ to_tsquery('simple', query)
        and c.owner_id = (select auth.uid())
      order by c.updated_at desc, c.id
      limit max_results)
    union all
    (select hit.chat_id, c.title::text,
            ts_headline('simple', hit.content, to_tsquery('simple', query),
                        format('StartSel=%s, StopSel=%s, MaxWords=16, MinWords=6, MaxFragments=1, '
                               'FragmentDelimiter=…', mark_start, mark_end)),
            hit.created_at, hit.id, hit.seq, hit.role::text
       from (select m.id, m.chat_id, m.seq, m.role, m.created_at, m.content
               from public.messages m
              where to_tsvector('simple', m.content) @@ to_tsquery('simple', query)
                and m.status <> 'streaming' and m.owner_id = (select auth.uid())
              order by m.created_at desc, m.id
              limit max_results) hit
       join public.chats c on c.id = hit.chat_id
      order by hit.created_at desc, hit.id)
$$;

revoke all on function public.search_chats(text, text, text, integer) from public, anon;
grant execute on function public.search_chats(text, text, text, integer) to authenticated;
