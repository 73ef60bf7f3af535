{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'order_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'order_id', 'position'], 'unique': true},
            {'columns': ['parent_fact_id']},
            {'columns': ['parent_judge_batch']},
            {'columns': ['shop_domain', 'variant_id']},
        ],
    )
}}

with

orders as (
    {{ changed_parents('stg_shopify__orders', ['shop_domain', 'order_id']) }}
),

line_items as (
    select
        orders.parent_fact_id,
        orders.parent_judge_batch,
        orders.shop_domain,
        orders.order_id,
        line_item.position::integer as position,
        {{ checked_bigint("line_item.item ->> 'id'") }} as line_item_id,
        {{ json_bigint('line_item.item', 'product_id') }} as product_id,
        {{ json_bigint('line_item.item', 'variant_id') }} as variant_id,
        {{ json_string('line_item.item', 'sku') }} as sku,
        {{ json_string('line_item.item', 'title') }} as title,
        {{ json_string('line_item.item', 'variant_title') }} as variant_title,
        {{ checked_integer("line_item.item ->> 'quantity'") }} as quantity,
        {{ checked_numeric("line_item.item ->> 'price'") }} as price,
        coalesce({{ json_numeric('line_item.item', 'total_discount') }}, 0) as total_discount
    from orders
    cross join
        lateral {{ json_array_elements('orders.value', 'line_items') }}
        with ordinality as line_item (item, position)
),

final as (
    select
        *,
        price * quantity as gross_amount
    from line_items
)

select * from final
