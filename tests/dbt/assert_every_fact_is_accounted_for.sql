-- Every fact is staged, quarantined or of an ignored topic; this returns the facts that are none.
-- A fact of a staged topic must be judged (in ops.facts_triage) once it is settled: every fact
-- up to the judge's watermark is (macros/triage.sql); a fact past it may still be committing and
-- is judged by the next build. A fact judged good counts as staged when its entity (the key it
-- describes) is in its staging model: the latest version of the entity is there, and older
-- versions are accounted for by it. (No CTE is read twice: PostgreSQL would materialize it, and
-- the anti-joins against it could not use the indexes.)
{{ config(severity='error') }}

with

never_judged as (
    select
        facts.id as fact_id,
        facts.shop_domain,
        facts.topic,
        'never judged' as problem
    from {{ source('app', 'facts') }} as facts
    where
        facts.topic in ('{{ staged_topics() | join("', '") }}')
        and facts.id <= {{ triage_settled_through() }}
        and not exists (
            select 1 from {{ ref('facts_triage') }} as triage
            where triage.fact_id = facts.id
        )
),

not_staged as (
    select
        facts.id as fact_id,
        facts.shop_domain,
        facts.topic,
        'judged good, not staged' as problem
    from {{ ref('facts_triage') }} as triage
    inner join {{ source('app', 'facts') }} as facts on triage.fact_id = facts.id
    where
        triage.reason is null
        and not case facts.topic
            when 'shopify.orders'
                then exists (
                    select 1 from {{ ref('stg_shopify__orders') }} as s
                    where s.shop_domain = facts.shop_domain and s.order_id = {{ json_bigint('facts.value', 'id') }}
                )
            when 'shopify.refunds'
                then exists (
                    select 1 from {{ ref('stg_shopify__refunds') }} as s
                    where s.shop_domain = facts.shop_domain and s.refund_id = {{ json_bigint('facts.value', 'id') }}
                )
            when 'shopify.customers'
                then exists (
                    select 1 from {{ ref('stg_shopify__customers') }} as s
                    where s.shop_domain = facts.shop_domain and s.customer_id = {{ json_bigint('facts.value', 'id') }}
                )
            when 'shopify.products'
                then exists (
                    select 1 from {{ ref('stg_shopify__products') }} as s
                    where s.shop_domain = facts.shop_domain and s.product_id = {{ json_bigint('facts.value', 'id') }}
                )
            when 'shopify.inventory_items'
                then exists (
                    select 1 from {{ ref('stg_shopify__inventory_items') }} as s
                    where
                        s.shop_domain = facts.shop_domain
                        and s.inventory_item_id = {{ json_bigint('facts.value', 'id') }}
                )
            when 'shopify.inventory_levels' then exists (
                select 1 from {{ ref('stg_shopify__inventory_levels') }} as s
                where
                    s.shop_domain = facts.shop_domain
                    and s.inventory_item_id = {{ json_bigint('facts.value', 'inventory_item_id') }}
                    and s.location_id = {{ json_bigint('facts.value', 'location_id') }}
            )
        end
),

unaccounted as (
    select * from never_judged
    union all
    select * from not_staged
)

select * from unaccounted
