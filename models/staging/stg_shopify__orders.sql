{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'order_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'order_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
            {'columns': ['shop_domain', 'customer_id']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.orders') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'id') }} as order_id,
        {{ json_string('value', 'name') }} as order_name,
        {{ json_bigint('value', 'order_number') }} as order_number,
        {{ json_bigint('value', 'customer', 'id') }} as customer_id,
        {{ json_string('value', 'email') }} as email,
        {{ json_timestamptz('value', 'created_at') }} as created_at,
        {{ json_timestamptz('value', 'processed_at') }} as processed_at,
        {{ json_timestamptz('value', 'updated_at') }} as updated_at,
        {{ json_timestamptz('value', 'cancelled_at') }} as cancelled_at,
        {{ json_string('value', 'cancel_reason') }} as cancel_reason,
        {{ json_text('value', 'cancelled_at') }} is not null as is_cancelled,
        coalesce({{ json_boolean('value', 'test') }}, false) as is_test,
        {{ json_string('value', 'financial_status') }} as financial_status,
        {{ json_string('value', 'fulfillment_status') }} as fulfillment_status,
        {{ json_string('value', 'currency') }} as currency,
        {{ json_numeric('value', 'total_line_items_price') }} as total_line_items_price,
        {{ json_numeric('value', 'subtotal_price') }} as subtotal_price,
        coalesce({{ json_numeric('value', 'total_discounts') }}, 0) as total_discounts,
        coalesce({{ json_numeric('value', 'total_tax') }}, 0) as total_tax,
        {{ json_numeric('value', 'total_price') }} as total_price,
        array(
            select {{ json_text('dc.code', 'code') }}
            from {{ json_array_elements('value', 'discount_codes') }} as dc (code)
        ) as discount_codes,
        {{ json_string('value', 'source_name') }} as source_name,
        jsonb_array_length({{ json_get('value', 'line_items') }}) as line_item_count
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'order_id'], 'updated_at desc') }}
)

select * from final
