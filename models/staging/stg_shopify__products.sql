{{ staging_config(['shop_domain', 'product_id']) }}

with

facts as (
    {{ latest_facts('shopify.products', ['product_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as product_id,
        {{ safe_string('payload.title') }} as title,
        {{ safe_string('payload.handle') }} as handle,
        {{ safe_string('payload.product_type') }} as product_type,
        {{ safe_string('payload.vendor') }} as vendor,
        {{ safe_string('payload.status') }} as status,
        {{ safe_string('payload.tags') }} as tags,
        {{ safe_timestamptz('payload.published_at') }} as published_at,
        {{ checked_timestamptz('payload.created_at') }} as created_at,
        {{ checked_timestamptz('payload.updated_at') }} as updated_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['title', 'text'], ['handle', 'text'], ['product_type', 'text'],
        ['vendor', 'text'], ['status', 'text'], ['tags', 'text'], ['published_at', 'text'],
        ['created_at', 'text'], ['updated_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
