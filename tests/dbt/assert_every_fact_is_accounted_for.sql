-- Every fact is staged, quarantined or of an ignored topic; this returns the facts that are none.
-- A fact counts as staged when its entity (the key it describes) is in its staging model: the
-- latest version of the entity is there, and older versions are accounted for by it.
{{ config(severity='error') }}

with

facts as (
    select
        id,
        shop_domain,
        topic,
        value
    from {{ source('app', 'facts') }}
),

quarantined as (
    select fact_id from {{ ref('facts_quarantine') }}
),

unaccounted as (
    select
        facts.id as fact_id,
        facts.shop_domain,
        facts.topic
    from facts
    where
        facts.topic in ('{{ staged_topics() | join("', '") }}')
        and not exists (
            select 1 from quarantined
            where quarantined.fact_id = facts.id
        )
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
)

select * from unaccounted
