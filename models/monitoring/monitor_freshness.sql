{#- Freshness per shop and topic, for the session's shop (macros/monitoring.sql). -#}
{{ config(pre_hook="{{ hotdash_monitor_function('monitor_freshness',
    'shop_domain text, topic text, latest_created_at timestamptz, age interval,'
    ~ ' warn_after_hours float8, error_after_hours float8, status text',
    hotdash_monitor_freshness_sql()) }}") }}
-- depends_on: {{ source('app', 'facts') }}

select * from {{ this.schema }}.hotdash_monitor_freshness()
