{#- The open alerts. marts.alerts is a mart table under forced row-level security, and this view
    runs as its caller (security_invoker), so each reader sees the rows the table's policies give it. -#}

with

alerts as (
    select * from {{ source('alerts', 'alerts') }}
),

final as (
    select
        shop_domain,
        rule,
        subject,
        severity,
        message,
        value,
        threshold,
        opened_at,
        last_seen_at,
        alert_id
    from alerts
    where resolved_at is null
)

select * from final
