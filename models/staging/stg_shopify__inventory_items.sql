{{ staging_config(['shop_domain', 'inventory_item_id']) }}

with

facts as (
    {{ latest_facts('shopify.inventory_items', ['inventory_item_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as inventory_item_id,
        {{ safe_string('payload.sku') }} as sku,
        -- Absent or null cost is unknown, never zero.
        {{ checked_numeric('payload.cost') }} as cost,
        coalesce({{ safe_boolean('payload.tracked') }}, true) as is_tracked,
        {{ safe_timestamptz('payload.created_at') }} as created_at,
        {{ checked_timestamptz('payload.updated_at') }} as updated_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['sku', 'text'], ['cost', 'text'], ['tracked', 'text'],
        ['created_at', 'text'], ['updated_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
