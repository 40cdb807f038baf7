-- A stand-in for the parts of a Supabase database that the project's migrations rely on,
-- as Supabase defines them: the roles PostgREST switches to (anon, authenticated and
-- service_role, which bypasses RLS), auth.users, auth.uid() read from the request's JWT
-- claims, Supabase's default grants on the public schema, and the storage schema's
-- buckets, objects and foldername(). Only for the tests: a Supabase project has all this.
do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
end
$$;

create schema auth;
-- With the columns of GoTrue's that the Auth stand-in (auth_api.py) reads and writes, all
-- nullable or defaulted: tests that make users directly name only id and email.
create table auth.users (
    id uuid primary key,
    email text unique,
    encrypted_password text,
    email_confirmed_at timestamptz,
    confirmation_sent_at timestamptz,
    recovery_sent_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb default '{}',
    raw_user_meta_data jsonb default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz default now()
);

-- As in Supabase: the `sub` claim of the JWT that PostgREST puts in request.jwt.claims.
create function auth.uid() returns uuid language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;
-- Supabase grants every API role all privileges on new tables and leaves the rest to RLS.
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;

create schema storage;
create table storage.buckets (
    id text primary key,
    name text not null unique,
    public boolean not null default false,
    created_at timestamptz not null default now()
);
create table storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text references storage.buckets (id),
    name text not null,
    owner uuid,
    metadata jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (bucket_id, name)
);
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

-- As in Supabase: the folders of an object's name, 'a/b/c.txt' -> {a,b}.
create function storage.foldername(name text) returns text[] language plpgsql immutable as $$
declare
    parts text[];
begin
    parts := string_to_array(name, '/');
    return parts[1:array_length(parts, 1) - 1];
end
$$;

grant usage on schema storage to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
