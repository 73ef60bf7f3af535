{{
    staging_config(
        ['shop_domain', 'row_key'],
        indexes=[{'columns': ['shop_domain', 'report_date']}],
    )
}}

with

facts as (
    {{ latest_facts('ga4.landing_pages', ['row_key']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        facts.entity_id as row_key,  -- ga4_row_key, as the judge computed it
        {{ checked_bigint('payload.property_id') }} as property_id,
        ({{ ga4_date_text('payload') }})::date as report_date,
        coalesce(
            {{ ga4_dimension('payload', 'landingPagePlusQueryString') }},
            {{ ga4_dimension('payload', 'landingPage') }}
        ) as landing_page,
        {{ ga4_dimension('payload', 'sessionDefaultChannelGroup') }} as channel_group,
        {{ ga4_dimension('payload', 'sessionSourceMedium') }} as source_medium,
        {{ ga4_dimension('payload', 'deviceCategory') }} as device_category,
        {{ checked_bigint(ga4_metric('payload', 'sessions')) }} as sessions,
        ({{ ga4_metric('payload', 'engagedSessions') }})::numeric as engaged_sessions,
        ({{ ga4_metric('payload', 'activeUsers') }})::numeric as active_users,
        ({{ ga4_metric('payload', 'newUsers') }})::numeric as new_users,
        coalesce(
            ({{ ga4_metric('payload', 'keyEvents') }})::numeric,
            ({{ ga4_metric('payload', 'conversions') }})::numeric
        ) as key_events,
        ({{ ga4_metric('payload', 'totalRevenue') }})::numeric as total_revenue,
        {{ safe_string('payload.currency_code') }} as currency_code,
        {{ safe_string('payload.time_zone') }} as time_zone,
        {{ checked_timestamptz('payload.fetched_at') }} as fetched_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['property_id', 'text'], ['dimension_headers', 'jsonb'], ['metric_headers', 'jsonb'],
        ['report_row', 'jsonb'], ['currency_code', 'text'], ['time_zone', 'text'],
        ['fetched_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
