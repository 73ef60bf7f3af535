{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'inventory_item_id', 'location_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'inventory_item_id', 'location_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.inventory_levels') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'inventory_item_id') }} as inventory_item_id,
        {{ json_bigint('value', 'location_id') }} as location_id,
        {{ json_integer('value', 'available') }} as available,
        {{ json_timestamptz('value', 'updated_at') }} as updated_at
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'inventory_item_id', 'location_id'], 'updated_at desc') }}
)

select * from final
