{{
    staging_config(
        ['shop_domain', 'refund_id'],
        indexes=[{'columns': key_index(['shop_domain', 'order_id'])}, {'columns': ['created_at']}],
    )
}}

with

facts as (
    {{ latest_facts('shopify.refunds', ['refund_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as refund_id,
        {{ checked_bigint('payload.order_id') }} as order_id,
        {{ checked_timestamptz('payload.created_at') }} as created_at,
        {{ checked_timestamptz('payload.processed_at') }} as processed_at,
        {{ safe_string('payload.note') }} as note,
        coalesce({{ safe_boolean('payload.restock') }}, false) as is_restock,
        coalesce((
            select sum({{ checked_numeric("t.item ->> 'amount'") }})
            from {{ json_array_elements('payload.transactions') }} as t (item)
            where
                coalesce({{ json_text('t.item', 'kind') }}, 'refund') = 'refund'
                and coalesce({{ json_text('t.item', 'status') }}, 'success') = 'success'
        ), 0) as refund_amount,
        coalesce(jsonb_array_length(
            case when jsonb_typeof(payload.refund_line_items) = 'array' then payload.refund_line_items end
        ), 0) as refund_line_item_count
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['order_id', 'text'], ['created_at', 'text'], ['processed_at', 'text'],
        ['note', 'text'], ['restock', 'text'], ['transactions', 'jsonb'], ['refund_line_items', 'jsonb'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
