-- Leases: the app processes that may be writing replies, and until when.
--
-- Each process renews its lease every few seconds while it lives. A reply left streaming
-- by a process whose lease ran out (its machine or container died) is marked interrupted
-- by whichever process sweeps next, its text kept; the database's clock decides, so
-- instances need not agree on the time. Only the server's own housekeeping client (the
-- secret key) calls these functions; users can neither read nor call them.
create table public.reply_leases (
    worker varchar(255) primary key,
    expires_at timestamptz not null
);
alter table public.reply_leases enable row level security;  -- and no policy: no user sees it
revoke all on public.reply_leases from anon, authenticated;

create function public.renew_lease(worker_name text, seconds double precision)
returns void
language sql
security invoker
set search_path = ''
as $$
    insert into public.reply_leases (worker, expires_at)
    values (worker_name, now() + make_interval(secs => seconds))
    on conflict (worker) do update set expires_at = excluded.expires_at;
$$;

create function public.end_lease(worker_name text)
returns void
language sql
security invoker
set search_path = ''
as $$
    delete from public.reply_leases where worker = worker_name;
$$;

create function public.sweep_replies(reason text)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
    swept integer;
begin
    update public.messages m
       set status = 'interrupted', error = reason, worker = null
     where m.status = 'streaming'
       and not exists (select 1 from public.reply_leases l where l.worker = m.worker and l.expires_at > now());
    get diagnostics swept = row_count;
    delete from public.reply_leases where expires_at < now() - interval '1 day';
    return swept;
end
$$;

revoke all on function public.renew_lease(text, double precision) from public, anon, authenticated;
revoke all on function public.end_lease(text) from public, anon, authenticated;
revoke all on function public.sweep_replies(text) from public, anon, authenticated;
grant execute on function public.renew_lease(text, double precision) to service_role;
grant execute on function public.end_lease(text) to service_role;
grant execute on function public.sweep_replies(text) to service_role;
