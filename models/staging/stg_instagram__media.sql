{{
    staging_config(
        ['shop_domain', 'media_key'],
        indexes=[{'columns': ['shop_domain', 'posted_at']}],
    )
}}

with

facts as (
    {{ latest_facts('instagram.media', ['media_key']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        facts.entity_id as media_key,  -- instagram_media_key, as the judge computed it
        payload.media ->> 'id' as media_id,
        coalesce(payload.media #>> '{owner,id}', payload.ig_user_id) as ig_user_id,
        {{ checked_timestamptz("payload.media ->> 'timestamp'") }} as posted_at,
        {{ safe_string("payload.media ->> 'media_type'") }} as media_type,
        {{ safe_string("payload.media ->> 'media_product_type'") }} as media_product_type,
        {{ safe_string("payload.media ->> 'permalink'") }} as permalink,
        {{ checked_bigint("payload.media ->> 'like_count'") }} as like_count,
        {{ checked_bigint("payload.media ->> 'comments_count'") }} as comments_count,
        {{ checked_timestamptz('payload.fetched_at') }} as fetched_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['ig_user_id', 'text'], ['media', 'jsonb'], ['fetched_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
