{{ staging_config(['shop_domain', 'media_key']) }}

with

facts as (
    {{ latest_facts('instagram.media_insights', ['media_key']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        facts.entity_id as media_key,  -- instagram_insights_media_key, as the judge computed it
        payload.media_id #>> '{}' as media_id,
        -- reach, views, impressions, ... profile_visits (instagram_counted_metrics)
        metrics.*,
        {{ checked_timestamptz('payload.fetched_at') }} as fetched_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['media_id', 'jsonb'], ['insights', 'jsonb'], ['fetched_at', 'text'],
    ]) }}
    cross join lateral {{ instagram_lifetime_metrics('payload.insights') }} as metrics
),

final as (
    select * from parsed
)

select * from final
