{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'inventory_item_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'inventory_item_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.inventory_items') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'id') }} as inventory_item_id,
        {{ json_string('value', 'sku') }} as sku,
        -- Absent or null cost is unknown, never zero.
        {{ json_numeric('value', 'cost') }} as cost,
        coalesce({{ json_boolean('value', 'tracked') }}, true) as is_tracked,
        {{ json_timestamptz('value', 'created_at') }} as created_at,
        {{ json_timestamptz('value', 'updated_at') }} as updated_at
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'inventory_item_id'], 'updated_at desc') }}
)

select * from final
