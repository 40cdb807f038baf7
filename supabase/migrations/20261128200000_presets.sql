-- Presets: a user's named ways to start a chat (a system prompt, a model and its
-- parameters). Each row is its owner's alone, under Row Level Security like chats.

create table public.presets (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name varchar(100) not null,
    system_prompt text not null default '',
    model varchar(200) not null,
    parameters jsonb not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
-- One name once per owner, whatever its case.
create unique index presets_owner_name on public.presets (owner_id, lower(name));

alter table public.presets enable row level security;
revoke all on public.presets from anon;
grant select, insert, update, delete on public.presets to authenticated;

create policy "owner reads presets" on public.presets for select to authenticated
    using (owner_id = (select auth.uid()));
create policy "owner creates presets" on public.presets for insert to authenticated
    with check (owner_id = (select auth.uid()));
create policy "owner updates presets" on public.presets for update to authenticated
    using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owner deletes presets" on public.presets for delete to authenticated
    using (owner_id = (select auth.uid()));
