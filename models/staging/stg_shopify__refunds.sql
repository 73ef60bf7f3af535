{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'refund_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'refund_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
            {'columns': ['shop_domain', 'order_id']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.refunds') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'id') }} as refund_id,
        {{ json_bigint('value', 'order_id') }} as order_id,
        {{ json_timestamptz('value', 'created_at') }} as created_at,
        {{ json_timestamptz('value', 'processed_at') }} as processed_at,
        {{ json_string('value', 'note') }} as note,
        coalesce({{ json_boolean('value', 'restock') }}, false) as is_restock,
        coalesce((
            select sum({{ json_numeric('t.item', 'amount') }})
            from {{ json_array_elements('value', 'transactions') }} as t (item)
            where
                coalesce({{ json_text('t.item', 'kind') }}, 'refund') = 'refund'
                and coalesce({{ json_text('t.item', 'status') }}, 'success') = 'success'
        ), 0) as refund_amount,
        coalesce(jsonb_array_length(
            case
                when {{ json_type('value', 'refund_line_items') }} = 'array'
                    then {{ json_get('value', 'refund_line_items') }}
            end
        ), 0) as refund_line_item_count
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'refund_id'], 'created_at desc') }}
)

select * from final
