-- The operator's directory (chatbot/accounts/directory.py): each account's role and standing
-- (profiles), the app's own settings (the sign-up policy), invitations, and an index for
-- counting a user's replies being written.
--
-- A user reads their own profile with their own token (the app checks role and standing on
-- every request that way) and changes nothing of it. Settings and invitations are the
-- server's alone (secret key, service_role). So are the functions below: the admin pages'
-- questions that one REST call cannot ask, and steps that the database's clock decides.

create table public.profiles (
    user_id uuid primary key references auth.users (id) on delete cascade,
    role text not null default 'user' check (role in ('user', 'admin')),
    status text not null default 'active' check (status in ('active', 'pending', 'disabled')),
    created_at timestamptz not null default now()
);
-- The admin list: pending accounts first, then the newest.
create index profiles_listing on public.profiles ((status = 'pending') desc, created_at desc, user_id);

alter table public.profiles enable row level security;
revoke all on public.profiles from anon, authenticated;
grant select on public.profiles to authenticated;  -- no insert, update or delete: the server decides
create policy "user reads own profile" on public.profiles for select to authenticated
    using (user_id = (select auth.uid()));

create table public.app_settings (
    name varchar(100) primary key,
    value text not null
);
alter table public.app_settings enable row level security;  -- and no policy: no user sees it
revoke all on public.app_settings from anon, authenticated;

create table public.invitations (
    id uuid primary key default gen_random_uuid(),
    token_hash varchar(64) not null unique,  -- of the link's token, which is never stored
    created_by uuid references auth.users (id) on delete set null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_by uuid references auth.users (id) on delete set null,
    used_at timestamptz
);
alter table public.invitations enable row level security;  -- and no policy: no user sees it
revoke all on public.invitations from anon, authenticated;

-- For the limit on replies written at once per user: their streaming replies, found at once.
create index messages_streaming_by_owner on public.messages (owner_id) where status = 'streaming';

-- Accounts made before this migration: each gets a profile, and the oldest is the admin (as
-- the first account of a new install is).
insert into public.profiles (user_id, created_at)
select u.id, coalesce(u.created_at, now()) from auth.users u
on conflict (user_id) do nothing;
update public.profiles set role = 'admin'
 where user_id = (select p.user_id from public.profiles p order by p.created_at, p.user_id limit 1);

-- Every new Supabase Auth user gets a profile, however it was made: the app's sign-up, a
-- sign-in provider's first visit, the dashboard, or a direct call to Supabase Auth's sign-up
-- with the publishable key (which is public), bypassing the app. So the standing comes from
-- the sign-up policy in the database, not from the caller: active only while sign-up is
-- open; otherwise pending, waiting for an admin. (The policy an admin chose, else the default
-- the app's configuration names, which the app records at start-up.) The app's own sign-up
-- then sets the standing it decided (an invitation's account is active, say).
-- SECURITY DEFINER: Supabase Auth inserts users as its own role, which may not write here.
create function public.create_profile()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    policy text := coalesce(
        (select s.value from public.app_settings s where s.name = 'signup_policy'),
        (select s.value from public.app_settings s where s.name = 'signup_policy_default'),
        'open');
begin
    insert into public.profiles (user_id, status, created_at)
    values (new.id, case when policy = 'open' then 'active' else 'pending' end, coalesce(new.created_at, now()))
    on conflict (user_id) do nothing;
    return new;
end
$$;
revoke all on function public.create_profile() from public, anon, authenticated;

create trigger create_profile after insert on auth.users
    for each row execute function public.create_profile();

-- The accounts as the admin pages list them, with their emails: `search` is a part of the
-- email (any case), `only_user` one account. Pending first, then the newest.
-- SECURITY DEFINER, to read auth.users, which no API role may.
create function public.list_members(search text default '', max_rows integer default 50, skip integer default 0,
                                    only_user uuid default null)
returns table (id uuid, email text, role text, status text, created_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
    select p.user_id, u.email::text, p.role, p.status, p.created_at
      from public.profiles p
      join auth.users u on u.id = p.user_id
     where (list_members.only_user is null or p.user_id = list_members.only_user)
       and strpos(lower(coalesce(u.email, '')), lower(coalesce(list_members.search, ''))) > 0
     order by p.status = 'pending' desc, p.created_at desc, p.user_id
     limit greatest(list_members.max_rows, 0) offset greatest(list_members.skip, 0);
$$;

-- A user's messages and tokens per day (UTC) over the last `days` days, newest first.
create function public.member_usage(user_id uuid, days integer)
returns table (day date, messages bigint, replies bigint, prompt_tokens bigint, completion_tokens bigint)
language sql
stable
security invoker
set search_path = ''
as $$
    select (m.created_at at time zone 'UTC')::date,
           count(*) filter (where m.role = 'user'),
           count(*) filter (where m.role = 'assistant'),
           coalesce(sum(m.prompt_tokens), 0)::bigint,
           coalesce(sum(m.completion_tokens), 0)::bigint
      from public.messages m
     where m.owner_id = member_usage.user_id
       and m.created_at >= now() - make_interval(days => member_usage.days)
     group by 1
     order by 1 desc;
$$;

-- Make the account an active admin if there is no admin yet (the first account). One claim
-- at a time, so two first sign-ups at once cannot both become admins.
create function public.claim_first_admin(user_id uuid)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
    perform pg_advisory_xact_lock(hashtext('public.claim_first_admin'));
    update public.profiles p set role = 'admin', status = 'active'
     where p.user_id = claim_first_admin.user_id
       and not exists (select 1 from public.profiles a where a.role = 'admin');
    return found;
end
$$;

-- The sign-up policy and other settings: set, whether or not set before.
create function public.save_setting(setting_name text, setting_value text)
returns void
language sql
security invoker
set search_path = ''
as $$
    insert into public.app_settings (name, value) values (setting_name, setting_value)
    on conflict (name) do update set value = excluded.value;
$$;

-- Invitations, timed by the database's clock.
create function public.add_invitation(token_hash text, created_by uuid, valid_seconds double precision)
returns setof public.invitations
language sql
security invoker
set search_path = ''
as $$
    insert into public.invitations (token_hash, created_by, created_at, expires_at)
    values (add_invitation.token_hash, add_invitation.created_by, now(),
            now() + make_interval(secs => add_invitation.valid_seconds))
    returning *;
$$;

-- Invitations neither used nor expired.
create function public.running_invitations()
returns setof public.invitations
language sql
stable
security invoker
set search_path = ''
as $$
    select * from public.invitations i where i.used_at is null and i.expires_at > now();
$$;

create function public.invitation_valid(token_hash text)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
    select exists (select 1 from public.invitations i
                    where i.token_hash = invitation_valid.token_hash and i.used_at is null and i.expires_at > now());
$$;

-- Mark a running invitation used by the account it made; false if none is. Two uses at
-- once: the second waits for the first's row lock, then finds it used.
create function public.use_invitation(token_hash text, user_id uuid)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
    update public.invitations i set used_by = use_invitation.user_id, used_at = now()
     where i.token_hash = use_invitation.token_hash and i.used_at is null and i.expires_at > now();
    return found;
end
$$;

revoke all on function public.list_members(text, integer, integer, uuid) from public, anon, authenticated;
revoke all on function public.member_usage(uuid, integer) from public, anon, authenticated;
revoke all on function public.claim_first_admin(uuid) from public, anon, authenticated;
revoke all on function public.save_setting(text, text) from public, anon, authenticated;
revoke all on function public.add_invitation(text, uuid, double precision) from public, anon, authenticated;
revoke all on function public.running_invitations() from public, anon, authenticated;
revoke all on function public.invitation_valid(text) from public, anon, authenticated;
revoke all on function public.use_invitation(text, uuid) from public, anon, authenticated;
grant execute on function public.list_members(text, integer, integer, uuid) to service_role;
grant execute on function public.member_usage(uuid, integer) to service_role;
grant execute on function public.claim_first_admin(uuid) to service_role;
grant execute on function public.save_setting(text, text) to service_role;
grant execute on function public.add_invitation(text, uuid, double precision) to service_role;
grant execute on function public.running_invitations() to service_role;
grant execute on function public.invitation_valid(text) to service_role;
grant execute on function public.use_invitation(text, uuid) to service_role;
