{{ staging_config(['shop_domain', 'inventory_item_id', 'location_id']) }}

with

facts as (
    {{ latest_facts('shopify.inventory_levels', ['inventory_item_id', 'location_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.inventory_item_id') }} as inventory_item_id,
        {{ checked_bigint('payload.location_id') }} as location_id,
        {{ checked_integer('payload.available') }} as available,
        {{ checked_timestamptz('payload.updated_at') }} as updated_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['inventory_item_id', 'text'], ['location_id', 'text'], ['available', 'text'], ['updated_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
