{#- One row per recent build: how long it took, how its dbt nodes ended, and the slowest one.
    Reads the runner's own record (macros/setup/ddl.sql), so it is a view: always current. A
    build recorded as running whose database session no longer holds the build lock died (kill -9,
    a crash, a database restart): it shows as abandoned, failed in the step it was in, before the
    next build records it so. -#}
{{ config(materialized='view') }}

with

build_runs as (
    select * from {{ source('ops', 'build_runs') }}
),

build_run_nodes as (
    select * from {{ source('ops', 'build_run_nodes') }}
),

contract_results as (
    select * from {{ source('ops', 'contract_results') }}
),

recent_runs as (
    select
        run_id,
        started_at,
        ended_at,
        current_step,
        case when is_dead then 'abandoned' else status end as status,
        case when is_dead then current_step else failed_step end as failed_step,
        case
            when is_dead then 'the build ended without finishing: its process or database session died'
            else error_message
        end as error_message,
        round(extract(epoch from ended_at - started_at), 3) as duration_seconds,
        (
            select string_agg(args.arg, ' ' order by args.position)
            from jsonb_array_elements_text(build_runs.command_args) with ordinality as args (arg, position)
        ) as command
    from (
        select
            build_runs.*,
            build_runs.status = 'running' and build_runs.backend_pid is not null and not exists (
                select 1 from pg_catalog.pg_locks as locks
                where
                    locks.locktype = 'advisory'
                    and locks.granted
                    and locks.pid = build_runs.backend_pid
                    and (locks.classid, locks.objid, locks.objsubid) = ({{ hotdash_build_lock_key() }}, 2)
            ) as is_dead
        from build_runs
    ) as build_runs
    where started_at >= now() - make_interval(days => {{ var('pipeline_health_days') }})
),

node_counts as (
    select
        run_id,
        count(*) as nodes_total,
        count(*) filter (where status in ('success', 'pass')) as nodes_succeeded,
        count(*) filter (where status = 'warn') as nodes_warned,
        count(*) filter (where status in ('error', 'fail', 'runtime error')) as nodes_failed,
        count(*) filter (where status = 'skipped') as nodes_skipped
    from build_run_nodes
    group by run_id
),

contract_counts as (
    select
        run_id,
        count(*) filter (where coalesce(status, case when not success then severity end) = 'error')
            as contracts_failed,
        count(*) filter (where coalesce(status, case when not success then severity end) = 'warn')
            as contracts_warned
    from contract_results
    group by run_id
),

ranked_nodes as (
    select
        run_id,
        name,
        seconds,
        row_number() over (partition by run_id order by seconds desc, name asc) as slowness_rank
    from build_run_nodes
),

slowest_nodes as (
    select
        run_id,
        name as slowest_node,
        round(seconds::numeric, 3) as slowest_node_seconds
    from ranked_nodes
    where slowness_rank = 1
),

final as (
    select
        recent_runs.run_id,
        recent_runs.started_at,
        recent_runs.ended_at,
        recent_runs.status,
        recent_runs.current_step,
        recent_runs.duration_seconds,
        recent_runs.failed_step,
        recent_runs.error_message,
        recent_runs.command,
        slowest_nodes.slowest_node,
        slowest_nodes.slowest_node_seconds,
        coalesce(node_counts.nodes_total, 0) as nodes_total,
        coalesce(node_counts.nodes_succeeded, 0) as nodes_succeeded,
        coalesce(node_counts.nodes_warned, 0) as nodes_warned,
        coalesce(node_counts.nodes_failed, 0) as nodes_failed,
        coalesce(node_counts.nodes_skipped, 0) as nodes_skipped,
        coalesce(contract_counts.contracts_failed, 0) as contracts_failed,
        coalesce(contract_counts.contracts_warned, 0) as contracts_warned
    from recent_runs
    left join node_counts on recent_runs.run_id = node_counts.run_id
    left join contract_counts on recent_runs.run_id = contract_counts.run_id
    left join slowest_nodes on recent_runs.run_id = slowest_nodes.run_id
)

select * from final
