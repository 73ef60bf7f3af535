{{
    config(
        materialized='incremental',
        schema='ops',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['fact_id'], 'unique': true},
            {'columns': ['shop_domain', 'topic']},
        ],
    )
}}

with

facts as (
    select
        facts.id,
        facts.shop_domain,
        facts.topic,
        facts.value,
        facts.created_at
    from {{ source('app', 'facts') }} as facts
    where
        facts.topic in ('{{ staged_topics() | join("', '") }}')
        and facts.id > {{ incremental_cursor('fact_id') }}
),

judged as (
    select
        id as fact_id,
        shop_domain,
        topic,
        created_at as fact_created_at,
        {{ quarantine_reason('topic', 'value') }} as reason
    from facts
),

final as (
    select
        fact_id,
        shop_domain,
        topic,
        reason,
        fact_created_at
    from judged
    where reason is not null
)

select * from final
