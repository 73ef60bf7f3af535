{{
    staging_config(
        ['shop_domain', 'row_key'],
        indexes=[{'columns': ['shop_domain', 'report_date']}],
    )
}}

with

facts as (
    {{ latest_facts('search_console.search_analytics', ['row_key']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        facts.entity_id as row_key,  -- search_console_row_key, as the judge computed it
        payload.site_url,
        coalesce({{ safe_string('payload.search_type') }}, 'web') as search_type,
        {{ safe_string('payload.aggregation_type') }} as aggregation_type,
        {{ safe_string('payload.data_state') }} as data_state,
        ({{ search_console_date_text('payload') }})::date as report_date,
        ({{ search_console_key('payload', 'hour') }})::timestamptz as report_hour,
        {{ search_console_key('payload', 'page') }} as page,
        {{ search_console_key('payload', 'query') }} as query,
        {{ search_console_key('payload', 'device') }} as device,
        {{ search_console_key('payload', 'country') }} as country,
        {{ search_console_key('payload', 'searchAppearance') }} as search_appearance,
        {{ checked_bigint("payload.report_row ->> 'clicks'") }} as clicks,
        {{ checked_bigint("payload.report_row ->> 'impressions'") }} as impressions,
        (payload.report_row ->> 'ctr')::numeric as ctr,
        (payload.report_row ->> 'position')::numeric as position,
        {{ checked_timestamptz('payload.fetched_at') }} as fetched_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['site_url', 'text'], ['search_type', 'text'], ['aggregation_type', 'text'],
        ['data_state', 'text'], ['dimensions', 'jsonb'], ['report_row', 'jsonb'],
        ['fetched_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
