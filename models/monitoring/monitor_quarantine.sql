{#- Quarantined facts per day, topic and reason, for the session's shop (macros/monitoring.sql). -#}
{{ config(pre_hook="{{ hotdash_monitor_function('monitor_quarantine',
    'shop_domain text, day date, topic text, reason text, facts_quarantined bigint',
    hotdash_monitor_quarantine_sql()) }}") }}
-- depends_on: {{ source('app', 'facts') }}
-- depends_on: {{ ref('facts_triage') }}

select * from {{ this.schema }}.hotdash_monitor_quarantine()
