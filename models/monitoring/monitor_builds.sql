{#- Build history and durations, every build (no messages: macros/monitoring.sql). -#}
{{ config(pre_hook="{{ hotdash_monitor_function('monitor_builds',
    'run_id uuid, started_at timestamptz, ended_at timestamptz, status text, current_step text,'
    ~ ' failed_step text, duration_seconds numeric, step_seconds jsonb, slowest_node text,'
    ~ ' slowest_node_seconds numeric, nodes_total bigint, nodes_succeeded bigint,'
    ~ ' nodes_warned bigint, nodes_failed bigint, nodes_skipped bigint,'
    ~ ' contracts_failed bigint, contracts_warned bigint',
    hotdash_monitor_builds_sql()) }}") }}
-- depends_on: {{ ref('pipeline_health') }}
-- depends_on: {{ source('ops', 'build_runs') }}

select * from {{ this.schema }}.hotdash_monitor_builds()
