-- Folders: a user's named groups of chats (a chat is in one folder or none), each row its
-- owner's alone under Row Level Security, and a chat only ever in a folder of its owner's.

create table public.folders (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name varchar(100) not null,
    created_at timestamptz not null default now()
);
create unique index folders_owner_name on public.folders (owner_id, lower(name));

alter table public.folders enable row level security;
revoke all on public.folders from anon;
grant select, insert, update, delete on public.folders to authenticated;

create policy "owner reads folders" on public.folders for select to authenticated
    using (owner_id = (select auth.uid()));
create policy "owner creates folders" on public.folders for insert to authenticated
    with check (owner_id = (select auth.uid()));
create policy "owner updates folders" on public.folders for update to authenticated
    using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owner deletes folders" on public.folders for delete to authenticated
    using (owner_id = (select auth.uid()));

-- Deleting a folder leaves its chats out of any folder.
alter table public.chats add column folder_id uuid references public.folders (id) on delete set null;
create index chats_folder on public.chats (folder_id);

-- A chat goes only into a folder of its owner's: a foreign key alone would let a user file a
-- chat under another user's folder id (foreign key checks see past RLS).
drop policy "owner creates chats" on public.chats;
drop policy "owner updates chats" on public.chats;
create policy "owner creates chats" on public.chats for insert to authenticated
    with check (owner_id = (select auth.uid()) and (folder_id is null or exists (
        select 1 from public.folders f where f.id = folder_id and f.owner_id = (select auth.uid()))));
create policy "owner updates chats" on public.chats for update to authenticated
    using (owner_id = (select auth.uid()))
    with check (owner_id = (select auth.uid()) and (folder_id is null or exists (
        select 1 from public.folders f where f.id = folder_id and f.owner_id = (select auth.uid()))));
