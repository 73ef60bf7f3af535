{{
    item_staging_config(
        'stg_shopify__refunds',
        ['shop_domain', 'refund_id']
    )
}}

with

refunds as (
    {{ changed_parents('stg_shopify__refunds', ['shop_domain', 'refund_id', 'order_id', 'created_at']) }}
),

refund_line_items as (
    select
        refunds.parent_fact_id,
        refunds.parent_judge_batch,
        refunds.shop_domain,
        refunds.refund_id,
        refunds.order_id,
        refunds.created_at as refunded_at,
        rli.position::integer as position,
        {{ json_bigint('rli.item', 'id') }} as refund_line_item_id,
        {{ checked_bigint("rli.item ->> 'line_item_id'") }} as line_item_id,
        {{ json_bigint('rli.item', 'line_item', 'variant_id') }} as variant_id,
        {{ json_bigint('rli.item', 'line_item', 'product_id') }} as product_id,
        {{ checked_integer("rli.item ->> 'quantity'") }} as quantity,
        coalesce(
            {{ checked_numeric("rli.item ->> 'subtotal'") }},
            {{ json_numeric('rli.item', 'line_item', 'price') }} * {{ checked_integer("rli.item ->> 'quantity'") }}
        ) as subtotal,
        {{ json_numeric('rli.item', 'total_tax') }} as total_tax
    from refunds
    cross join
        lateral {{ json_array_elements('refunds.value', 'refund_line_items') }}
        with ordinality as rli (item, position)
)

select * from refund_line_items
