{#-
    The operator dashboard's monitoring panels (models/monitoring, README "Monitoring panels").
    The operator and the AI may not read ops or the facts, and a view in marts runs as its caller
    (security_invoker, macros/security/statements.sql). So each panel that reads them is a view
    over a function of the marts schema that runs as its owner (SECURITY DEFINER, fixed
    search_path and time zone) and returns only what the panel may show: for a per-shop panel,
    the rows of the session's shop (marts.hotdash_session_shop(), the marts' own policy); for a
    build-wide panel, statuses, durations and counts, never a message or sample (they can
    quote a shop's data). The model's pre-hook creates the function in the transaction that
    builds the view; the readers of marts (analyst, operator, AI) may execute it, nobody else
    (with var apply_security false, nobody until `hotdash grants`: its step 9 grants them).
    The body names relations without their database (a copied or renamed database keeps working).
-#}

{#- Create (or replace) marts.hotdash_<name>(): `returns` is the column list, `body` one query. -#}
{% macro hotdash_monitor_function(name, returns, body) -%}
    {%- set cfg = hotdash_security_config() -%}
    {%- set r = cfg['roles'] -%}
    {%- set fn = cfg['marts_schema'] ~ '.hotdash_' ~ name ~ '()' -%}
    {%- set secured = var('apply_security', true) -%}
{%- if not secured %}
-- security switched off: marts.hotdash_session_shop() may not exist until `hotdash grants`
set local check_function_bodies = off;
{%- endif %}
-- The view being replaced keeps the function it calls, renamed, so the new one may return other
-- columns (create or replace cannot change them); the renamed ones of earlier builds, which no
-- view uses any more, are dropped.
do $hotdash$
declare
    old regprocedure;
begin
    for old in
        select procs.oid::regprocedure from pg_proc as procs
        where
            procs.pronamespace = {{ hotdash_literal(cfg['marts_schema']) }}::regnamespace
            and procs.proname like {{ hotdash_literal('hotdash_' ~ name ~ '\_\_replaced\_%') }}
    loop
        begin
            execute format('drop function %s', old);
        exception when dependent_objects_still_exist then null;
        end;
    end loop;
    if to_regprocedure({{ hotdash_literal(fn) }}) is not null then
        execute format(
            'alter function %s rename to %I', {{ hotdash_literal(fn) }},
            {{ hotdash_literal('hotdash_' ~ name ~ '__replaced_') }} || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS')
        );
    end if;
end
$hotdash$;
create function {{ fn }}
returns table ({{ returns }})
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $hotdash$
{{ body }}
$hotdash$;
revoke all on function {{ fn }} from public
{%- if secured %};
grant execute on function {{ fn }} to {{ r['analyst'] }}, {{ r['operator'] }}, {{ r['ai'] }}
{%- endif %}
{%- endmacro %}

{#- The one threshold set (var freshness) as rows: topic ('default' for the others), hours. -#}
{% macro hotdash_freshness_thresholds() -%}
    {%- set freshness = var('freshness') -%}
    {%- if 'default' not in freshness -%}
        {{ exceptions.raise_compiler_error("var freshness lacks its default entry") }}
    {%- endif -%}
    (
        values
        {%- for topic, hours in freshness.items() %}
        ({{ hotdash_literal(topic) }}, {{ hours['warn_after_hours'] | float }}::float8,
            {{ hours['error_after_hours'] | float }}::float8){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- The session's shop, as the marts' shop policy asks for it. -#}
{% macro hotdash_monitor_shop() -%}
    (select {{ hotdash_security_config()['marts_schema'] }}.{{ hotdash_security_config()['session_shop_function'] }}())
{%- endmacro %}

{#- The session's shop and each topic it has facts of, one index probe per topic
    (facts_shop_topic_created_at_idx): the CTEs `shop` and `topics` of a `with recursive`. -#}
{% macro hotdash_monitor_shop_topics(facts) -%}
shop as (
    select {{ hotdash_monitor_shop() }} as shop_domain
),

topics as (
    (
        select facts.shop_domain, facts.topic
        from {{ facts }} as facts
        inner join shop on facts.shop_domain = shop.shop_domain
        order by facts.topic
        limit 1
    )
    union all
    select later.shop_domain, later.topic
    from topics
    cross join lateral (
        select facts.shop_domain, facts.topic
        from {{ facts }} as facts
        where facts.shop_domain = topics.shop_domain and facts.topic > topics.topic
        order by facts.topic
        limit 1
    ) as later
)
{%- endmacro %}

{#- Per shop and topic: the newest fact, its age and status (fresh / warn / stale: age strictly
    above the topic's threshold, as dbt and runner/settings.py FeedThresholds.status count).
    One index probe per topic of the session's shop (facts_shop_topic_created_at_idx), as
    runner/status.py FRESHNESS_SQL. -#}
{% macro hotdash_monitor_freshness_sql() -%}
    {%- set facts = source('app', 'facts').include(database=false) -%}
with recursive {{ hotdash_monitor_shop_topics(facts) }},

thresholds (topic, warn_after_hours, error_after_hours) as {{ hotdash_freshness_thresholds() }},

newest as (
    select
        topics.shop_domain,
        topics.topic,
        latest.created_at as latest_created_at,
        now() - latest.created_at as age,
        coalesce(own.warn_after_hours, fallback.warn_after_hours) as warn_after_hours,
        coalesce(own.error_after_hours, fallback.error_after_hours) as error_after_hours
    from topics
    cross join lateral (
        select facts.created_at
        from {{ facts }} as facts
        where facts.shop_domain = topics.shop_domain and facts.topic = topics.topic
        order by facts.created_at desc
        limit 1
    ) as latest
    left join thresholds as own on topics.topic = own.topic and own.topic <> 'default'
    inner join thresholds as fallback on fallback.topic = 'default'
)

select
    shop_domain,
    topic,
    latest_created_at,
    age,
    warn_after_hours,
    error_after_hours,
    case
        when age > error_after_hours * interval '1 hour' then 'stale'
        when age > warn_after_hours * interval '1 hour' then 'warn'
        else 'fresh'
    end as status
from newest
{%- endmacro %}

{#- Per shop, topic and hour (UTC) of the last monitor_ingest_hours hours: facts the app stored.
    One index range scan per topic of the session's shop (facts_shop_topic_created_at_idx). -#}
{% macro hotdash_monitor_ingest_sql() -%}
    {%- set facts = source('app', 'facts').include(database=false) -%}
with recursive {{ hotdash_monitor_shop_topics(facts) }}

select
    topics.shop_domain,
    topics.topic,
    hours.hour,
    hours.facts
from topics
cross join lateral (
    select
        date_trunc('hour', facts.created_at) as hour,
        count(*) as facts
    from {{ facts }} as facts
    where
        facts.shop_domain = topics.shop_domain
        and facts.topic = topics.topic
        and facts.created_at >= date_trunc('hour', now())
        - make_interval(hours => {{ var('monitor_ingest_hours') | int }} - 1)
    group by 1
) as hours
{%- endmacro %}

{#- Per shop, day (UTC) the app stored the facts, staged topic and reason, over the last
    monitor_quarantine_days days: the facts the judge quarantined. The window's facts are found
    through facts_shop_topic_created_at_idx and their verdicts through facts_triage's unique
    fact_id index, so the cost follows the window, not the whole history. -#}
{% macro hotdash_monitor_quarantine_sql() -%}
    {%- set facts = source('app', 'facts').include(database=false) -%}
with shop as (
    select {{ hotdash_monitor_shop() }} as shop_domain
),

topics (topic) as (
    values
    {%- for topic in var('topics') %}
    ({{ hotdash_literal(topic) }}){{ ',' if not loop.last }}
    {%- endfor %}
)

select
    facts.shop_domain,
    (facts.created_at at time zone 'UTC')::date as day,
    facts.topic,
    triage.reason,
    count(*) as facts_quarantined
from shop
cross join topics
inner join {{ facts }} as facts
    on
        shop.shop_domain = facts.shop_domain
        and topics.topic = facts.topic
        and facts.created_at >= (now() at time zone 'UTC')::date
        - {{ var('monitor_quarantine_days') | int }} + 1
-- one probe of the unique fact_id index per fact of the window (limit 1 keeps it a probe)
cross join lateral (
    select triage.reason
    from {{ ref('facts_triage').include(database=false) }} as triage
    where triage.fact_id = facts.id
    limit 1
) as triage
where triage.reason is not null
group by 1, 2, 3, 4
{%- endmacro %}

{#- Per build of the last pipeline_health_days days (ops.pipeline_health without its error
    message and command line): status, durations, nodes and contracts by outcome. -#}
{% macro hotdash_monitor_builds_sql() -%}
select
    health.run_id,
    health.started_at,
    health.ended_at,
    health.status,
    health.current_step,
    health.failed_step,
    health.duration_seconds,
    (
        select jsonb_object_agg(step ->> 'name', (step ->> 'seconds')::numeric)
        from jsonb_array_elements(
            case when jsonb_typeof(runs.steps) = 'array' then runs.steps else '[]'::jsonb end
        ) as step
        where step ->> 'name' is not null
    ) as step_seconds,
    health.slowest_node,
    health.slowest_node_seconds,
    health.nodes_total,
    health.nodes_succeeded,
    health.nodes_warned,
    health.nodes_failed,
    health.nodes_skipped,
    health.contracts_failed,
    health.contracts_warned
from {{ ref('pipeline_health').include(database=false) }} as health
inner join {{ source('ops', 'build_runs').include(database=false) }} as runs on health.run_id = runs.run_id
{%- endmacro %}

{#- Per build of the last pipeline_health_days days, stage and suite: expectations by outcome. -#}
{% macro hotdash_monitor_contracts_sql() -%}
with results as (
    select
        results.run_id,
        runs.started_at,
        results.stage,
        results.suite,
        coalesce(results.status, case when results.success then 'pass' else results.severity end)
            as outcome
    from {{ source('ops', 'contract_results').include(database=false) }} as results
    inner join {{ source('ops', 'build_runs').include(database=false) }} as runs on results.run_id = runs.run_id
    where runs.started_at >= now() - make_interval(days => {{ var('pipeline_health_days') | int }})
)

select
    run_id,
    started_at,
    stage,
    suite,
    count(*) as expectations,
    count(*) filter (where outcome = 'pass') as passed,
    count(*) filter (where outcome = 'warn') as warned,
    count(*) filter (where outcome = 'error') as failed,
    count(*) filter (where outcome = 'skipped') as skipped
from results
group by run_id, started_at, stage, suite
{%- endmacro %}
