{{ config(materialized='view', schema='ops') }}

with

triage as (
    select * from {{ ref('facts_triage') }}
),

final as (
    select
        fact_id,
        shop_domain,
        topic,
        reason,
        fact_created_at
    from triage
    where reason is not null
)

select * from final
