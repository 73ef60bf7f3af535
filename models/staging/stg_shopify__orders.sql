{{
    staging_config(
        ['shop_domain', 'order_id'],
        indexes=[{'columns': ['created_at']}],
    )
}}

with

facts as (
    {{ latest_facts('shopify.orders', ['order_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as order_id,
        {{ safe_string('payload.name') }} as order_name,
        {{ safe_bigint('payload.order_number') }} as order_number,
        {{ checked_bigint("payload.customer ->> 'id'") }} as customer_id,
        {{ safe_string('payload.email') }} as email,
        {{ checked_timestamptz('payload.created_at') }} as created_at,
        {{ safe_timestamptz('payload.processed_at') }} as processed_at,
        {{ checked_timestamptz('payload.updated_at') }} as updated_at,
        {{ checked_timestamptz('payload.cancelled_at') }} as cancelled_at,
        {{ safe_string('payload.cancel_reason') }} as cancel_reason,
        payload.cancelled_at is not null as is_cancelled,
        coalesce({{ safe_boolean('payload.test') }}, false) as is_test,
        {{ safe_string('payload.financial_status') }} as financial_status,
        {{ safe_string('payload.fulfillment_status') }} as fulfillment_status,
        {{ safe_string('payload.currency') }} as currency,
        {{ checked_numeric('payload.total_line_items_price') }} as total_line_items_price,
        {{ checked_numeric('payload.subtotal_price') }} as subtotal_price,
        coalesce({{ checked_numeric('payload.total_discounts') }}, 0) as total_discounts,
        coalesce({{ checked_numeric('payload.total_tax') }}, 0) as total_tax,
        {{ checked_numeric('payload.total_price') }} as total_price,
        discount_codes.codes as discount_codes,
        {{ safe_string('payload.source_name') }} as source_name,
        jsonb_array_length(payload.line_items) as line_item_count
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['name', 'text'], ['order_number', 'text'], ['customer', 'jsonb'],
        ['email', 'text'], ['created_at', 'text'], ['processed_at', 'text'],
        ['updated_at', 'text'], ['cancelled_at', 'text'], ['cancel_reason', 'text'],
        ['test', 'text'], ['financial_status', 'text'], ['fulfillment_status', 'text'],
        ['currency', 'text'], ['total_line_items_price', 'text'], ['subtotal_price', 'text'],
        ['total_discounts', 'text'], ['total_tax', 'text'], ['total_price', 'text'],
        ['discount_codes', 'jsonb'], ['source_name', 'text'], ['line_items', 'jsonb'],
    ]) }}
    -- The codes as text[] (strings unquoted), read by functions rather than a subquery, which
    -- would keep the query out of parallel workers. An entry that is not an object with a code
    -- is left out (strict: a nested array is not unwrapped).
    cross join lateral jsonb_to_record(jsonb_build_object(
        'codes',
        jsonb_path_query_array(
            case when jsonb_typeof(payload.discount_codes) = 'array' then payload.discount_codes else '[]' end,
            'strict $[*] ? (exists(@.code)).code'
        )
    )) as discount_codes (codes text[])
),

final as (
    select * from parsed
)

select * from final
