-- Usage by model, for the usage page and budgets: a member's replies and tokens per day
-- (UTC) and model since a day. For the server's own use (the service role), as
-- member_usage: a user's usage page asks for the signed-in user's own rows only.
create function public.member_model_usage(user_id uuid, since date)
returns table (day date, model text, replies bigint, prompt_tokens bigint, completion_tokens bigint)
language sql
stable
security invoker
set search_path = ''
as $$
    select (m.created_at at time zone 'UTC')::date, m.model, count(*),
           coalesce(sum(m.prompt_tokens), 0)::bigint, coalesce(sum(m.completion_tokens), 0)::bigint
      from public.messages m
     where m.owner_id = member_model_usage.user_id and m.role = 'assistant'
       and m.created_at >= member_model_usage.since::timestamp at time zone 'UTC'
     group by 1, 2
     order by 1 desc, 2;
$$;

revoke all on function public.member_model_usage(uuid, date) from public, anon, authenticated;
grant execute on function public.member_model_usage(uuid, date) to service_role;
