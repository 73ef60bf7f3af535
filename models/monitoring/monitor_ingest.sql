{#- Facts stored per hour and topic, for the session's shop (macros/monitoring.sql). -#}
{{ config(pre_hook="{{ hotdash_monitor_function('monitor_ingest',
    'shop_domain text, topic text, hour timestamptz, facts bigint',
    hotdash_monitor_ingest_sql()) }}") }}
-- depends_on: {{ source('app', 'facts') }}

select * from {{ this.schema }}.hotdash_monitor_ingest()
