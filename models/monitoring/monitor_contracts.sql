{#- Contract results per build, stage and suite, by outcome (no samples: macros/monitoring.sql). -#}
{{ config(pre_hook="{{ hotdash_monitor_function('monitor_contracts',
    'run_id uuid, started_at timestamptz, stage text, suite text, expectations bigint,'
    ~ ' passed bigint, warned bigint, failed bigint, skipped bigint',
    hotdash_monitor_contracts_sql()) }}") }}
-- depends_on: {{ source('ops', 'contract_results') }}
-- depends_on: {{ source('ops', 'build_runs') }}

select * from {{ this.schema }}.hotdash_monitor_contracts()
