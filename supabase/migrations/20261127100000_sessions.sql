-- Server-side sessions (chatbot/accounts/sessions.py): one row per signed-in browser, found
-- by a hash of the token in its cookie. ``data`` is what Flask's session holds for it, and
-- that includes the user's Supabase refresh token: it never leaves the server.
--
-- The server reads and writes rows with its secret key (service_role), through the
-- functions below wherever one statement must be decided by the database's clock, so app
-- instances need not agree on the time. A signed-in user may list their own sessions and
-- end them, and see no more of a row than the account page shows: never the token's hash,
-- never the data. The anon role reaches nothing.
create table public.sessions (
    id uuid primary key default gen_random_uuid(),
    token_hash text not null unique,
    user_id uuid not null references auth.users (id) on delete cascade,
    data text not null default '',
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,  -- the sooner of last_seen_at + idle time and absolute_at
    absolute_at timestamptz not null,
    remember boolean not null default false,
    user_agent varchar(300) not null default '',
    address varchar(64) not null default ''
);
create index sessions_user_id on public.sessions (user_id);
create index sessions_expires_at on public.sessions (expires_at);

alter table public.sessions enable row level security;
revoke all on public.sessions from anon, authenticated;
-- Column grants: what a user may read of their rows is listed; token_hash and data are not.
grant select (id, user_id, created_at, last_seen_at, expires_at, remember, user_agent, address)
    on public.sessions to authenticated;
grant delete on public.sessions to authenticated;
-- No insert or update for users: a session is made (and kept alive) by the server alone.
create policy "user reads own sessions" on public.sessions for select to authenticated
    using (user_id = (select auth.uid()));
create policy "user ends own sessions" on public.sessions for delete to authenticated
    using (user_id = (select auth.uid()));

-- Argument names match the columns, so the bodies qualify both: a bare name would be read
-- as the column, and `where token_hash = token_hash` would match every row.

-- A new session. Sign-ins are rare enough to clear away every session that has run out.
create function public.create_session(token_hash text, user_id uuid, data text, idle_seconds double precision,
                                      absolute_seconds double precision, remember boolean, user_agent text,
                                      address text)
returns setof public.sessions
language sql
security invoker
set search_path = ''
as $$
    delete from public.sessions s where s.expires_at <= now();
    insert into public.sessions (token_hash, user_id, data, created_at, last_seen_at, expires_at, absolute_at,
                                 remember, user_agent, address)
    values (create_session.token_hash, create_session.user_id, create_session.data, now(), now(),
            least(now() + make_interval(secs => create_session.idle_seconds),
                  now() + make_interval(secs => create_session.absolute_seconds)),
            now() + make_interval(secs => create_session.absolute_seconds),
            create_session.remember, create_session.user_agent, create_session.address)
    returning *;
$$;

-- The running session with this token's hash (no row once it has expired).
create function public.find_session(token_hash text)
returns setof public.sessions
language sql
stable
security invoker
set search_path = ''
as $$
    select * from public.sessions s where s.token_hash = find_session.token_hash and s.expires_at > now();
$$;

-- Seen now: the idle time starts again, never past the absolute end; with new_data, that
-- replaces what it holds. An expired session stays expired.
create function public.touch_session(token_hash text, idle_seconds double precision, new_data text default null)
returns void
language sql
security invoker
set search_path = ''
as $$
    update public.sessions s
       set last_seen_at = now(),
           expires_at = least(now() + make_interval(secs => touch_session.idle_seconds), s.absolute_at),
           data = coalesce(touch_session.new_data, s.data)
     where s.token_hash = touch_session.token_hash and s.expires_at > now();
$$;

-- End the session with this token's hash: its id, whether it was still running, and its
-- data (for the server to sign its Supabase session out too).
create function public.delete_session(token_hash text)
returns table (id uuid, running boolean, data text)
language sql
security invoker
set search_path = ''
as $$
    delete from public.sessions s where s.token_hash = delete_session.token_hash
    returning s.id, s.expires_at > now(), s.data;
$$;

-- A user's running sessions.
create function public.user_sessions(user_id uuid)
returns setof public.sessions
language sql
stable
security invoker
set search_path = ''
as $$
    select * from public.sessions s where s.user_id = user_sessions.user_id and s.expires_at > now();
$$;

revoke all on function public.create_session(text, uuid, text, double precision, double precision, boolean, text, text)
    from public, anon, authenticated;
revoke all on function public.find_session(text) from public, anon, authenticated;
revoke all on function public.touch_session(text, double precision, text) from public, anon, authenticated;
revoke all on function public.delete_session(text) from public, anon, authenticated;
revoke all on function public.user_sessions(uuid) from public, anon, authenticated;
grant execute on function public.create_session(text, uuid, text, double precision, double precision, boolean, text, text)
    to service_role;
grant execute on function public.find_session(text) to service_role;
grant execute on function public.touch_session(text, double precision, text) to service_role;
grant execute on function public.delete_session(text) to service_role;
grant execute on function public.user_sessions(uuid) to service_role;
