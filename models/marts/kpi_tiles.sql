{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'tile', 'tile_date desc']},
        ],
    )
}}

-- One row per shop, tile and day: what an operator tile prints (docs/kpis.md has each tile's
-- definition and thresholds). Sales has a row for each of the last kpi_history_days days up to
-- the as-of date (from the shop's first day with activity); Inventory, CX, SEO and Social have
-- the as-of day only, since stock levels, open conversations and a post's insights are kept as
-- they are now, not as they were, and organic search is read over a week.
with

daily as (
    select * from {{ ref('int_shopify__revenue_daily') }}
),

inventory as (
    select * from {{ ref('inventory_alerts') }}
),

conversations as (
    select * from {{ ref('stg_chatwoot__conversations') }}
),

messages as (
    select * from {{ ref('stg_chatwoot__messages') }}
),

seo_pages as (
    select * from {{ ref('int_seo__page_daily') }}
),

seo_dropped as (
    select * from {{ ref('seo_dropped_pages') }}
),

media as (
    select * from {{ ref('stg_instagram__media') }}
),

insights as (
    select * from {{ ref('stg_instagram__media_insights') }}
),

reference as (
    select {{ as_of_date() }} as as_of_date
),

shops as (
    select
        shop_domain,
        min(revenue_date) as first_day
    from daily
    group by shop_domain
),

-- Every day from the shop's first day to the as-of date, with its net revenue (0 on a quiet
-- day), so that row frames count days.
calendar as (
    select
        shops.shop_domain,
        days.day::date as tile_date,
        coalesce(daily.net_revenue, 0) as net_revenue
    from shops
    cross join reference
    cross join lateral generate_series(shops.first_day, reference.as_of_date, interval '1 day') as days (day)
    left join daily
        on
            shops.shop_domain = daily.shop_domain
            and days.day::date = daily.revenue_date
),

sales_windows as (
    select
        shop_domain,
        tile_date,
        net_revenue as net_revenue_today,
        -- The 7 completed days before the day (fewer for a shop younger than that).
        sum(net_revenue) over last_7_days as net_revenue_last_7_days,
        count(*) over last_7_days as completed_days,
        sum(net_revenue) over (
            partition by shop_domain, date_trunc('month', tile_date)
            order by tile_date
            rows between unbounded preceding and current row
        ) as net_revenue_month_to_date,
        sum(net_revenue) over (
            partition by shop_domain, date_trunc('year', tile_date)
            order by tile_date
            rows between unbounded preceding and current row
        ) as net_revenue_year_to_date
    from calendar
    window last_7_days as (
        partition by shop_domain
        order by tile_date
        rows between 7 preceding and 1 preceding
    )
),

sales_paced as (
    select
        sales_windows.*,
        sales_windows.net_revenue_last_7_days / nullif(sales_windows.completed_days, 0)
            as net_revenue_per_day_last_7_days,
        -- As the goal_pace alert: what is left of the year's goal after the day, over the days
        -- of the year after it (at least 1); 0 once the goal is reached.
        greatest({{ var('revenue_goal') }} - sales_windows.net_revenue_year_to_date, 0)
        / greatest(
            make_date(extract(year from sales_windows.tile_date)::integer, 12, 31) - sales_windows.tile_date, 1
        ) as needed_per_day
    from sales_windows
    cross join reference
    where sales_windows.tile_date > reference.as_of_date - {{ var('kpi_history_days') }}
),

sales as (
    select
        shop_domain,
        'sales' as tile,
        tile_date,
        net_revenue_month_to_date as headline_value,
        'net revenue, month to date' as headline_label,
        round(needed_per_day, 2) as comparison_value,
        'net revenue per day needed to reach the yearly goal' as comparison_label,
        case
            when needed_per_day = 0 then 'ok'
            when net_revenue_per_day_last_7_days is null then 'watch'
            when net_revenue_per_day_last_7_days < needed_per_day * {{ var('goal_pace_critical_ratio') }} then 'act'
            when net_revenue_per_day_last_7_days < needed_per_day * {{ var('goal_pace_warn_ratio') }} then 'watch'
            else 'ok'
        end as status,
        case
            when needed_per_day = 0
                then 'The yearly goal is reached: ' || {{ kpi_amount('net_revenue_year_to_date') }} || ' this year.'
            when net_revenue_per_day_last_7_days is null
                then
                    'No completed day yet to compare with the '
                    || {{ kpi_amount('needed_per_day') }} || ' per day the goal needs.'
            else
                'Last 7 days: ' || {{ kpi_amount('net_revenue_per_day_last_7_days') }} || ' per day against '
                || {{ kpi_amount('needed_per_day') }} || ' needed ('
                || round(100 * net_revenue_per_day_last_7_days / needed_per_day)::text || '% of pace).'
        end as explanation,
        jsonb_build_object(
            'net_revenue_today', net_revenue_today,
            'net_revenue_last_7_days', net_revenue_last_7_days,
            'completed_days_in_last_7', completed_days,
            'net_revenue_per_day_last_7_days', round(net_revenue_per_day_last_7_days, 2),
            'net_revenue_month_to_date', net_revenue_month_to_date,
            'net_revenue_year_to_date', net_revenue_year_to_date,
            'needed_per_day', round(needed_per_day, 2)
        ) as figures
    from sales_paced
),

-- The shop's slow movers are inventory_alerts' (to discount or discontinue, capital above 0:
-- slow_mover_rank), as in the daily email's headline.
inventory_totals as (
    select
        shop_domain,
        as_of_date as tile_date,
        count(slow_mover_rank) as slow_movers,
        coalesce(sum(capital_tied_up) filter (where slow_mover_rank is not null), 0) as capital_tied_up,
        coalesce(sum(potential_cash_recovery) filter (where slow_mover_rank is not null), 0)
            as potential_cash_recovery,
        count(*) filter (where recommended_action = 'reorder') as variants_to_reorder,
        -- Sold in the sales window, none left.
        count(*) filter (where units_on_hand <= 0 and units_sold_in_window > 0) as variants_out_of_stock
    from inventory
    group by shop_domain, as_of_date
),

inventory_tile as (
    select
        shop_domain,
        'inventory' as tile,
        tile_date,
        capital_tied_up as headline_value,
        'capital tied up in slow movers' as headline_label,
        potential_cash_recovery as comparison_value,
        'cash the recommended actions could recover' as comparison_label,
        case
            when capital_tied_up > {{ var('alert_slow_mover_capital') }} then 'act'
            when variants_to_reorder > 0 or variants_out_of_stock > 0 then 'watch'
            else 'ok'
        end as status,
        'Slow movers (' || slow_movers::text || '): ' || {{ kpi_amount('capital_tied_up') }}
        || ' tied up, ' || {{ kpi_amount('potential_cash_recovery') }} || ' recoverable; to reorder: '
        || variants_to_reorder::text || '; out of stock: ' || variants_out_of_stock::text
        || '.' as explanation,
        jsonb_build_object(
            'slow_movers', slow_movers,
            'capital_tied_up', capital_tied_up,
            'potential_cash_recovery', potential_cash_recovery,
            'variants_to_reorder', variants_to_reorder,
            'variants_out_of_stock', variants_out_of_stock
        ) as figures
    from inventory_totals
),

-- CX: the conversations created in the 7 days up to the as-of day (in reporting_timezone), judged
-- at the end of that day or now, whichever is earlier: a first reply within the SLA, after it,
-- or none yet (missed once the SLA has passed; not counted while it still runs).
cx_reference as (
    select
        as_of_date,
        (as_of_date - 6)::timestamp at time zone '{{ var("reporting_timezone") }}' as window_start,
        least(
            now(), (as_of_date + 1)::timestamp at time zone '{{ var("reporting_timezone") }}'
        ) as judged_at
    from reference
),

cx_conversations as (
    select
        conversations.shop_domain,
        conversations.status,
        conversations.created_at >= cx_reference.window_start as in_window,
        case
            when conversations.first_reply_created_at <= cx_reference.judged_at
                then conversations.first_reply_created_at - conversations.created_at
        end as first_response,
        cx_reference.judged_at - conversations.created_at as waited
    from conversations
    cross join cx_reference
    where conversations.created_at < cx_reference.judged_at
),

cx_replies as (
    select
        shop_domain,
        count(*) filter (where status = 'open') as open_conversations,
        count(*) filter (where in_window) as conversations_last_7_days,
        percentile_cont(0.5) within group (
            order by extract(epoch from first_response) / 60
        ) filter (where in_window and first_response is not null) as median_first_response_minutes,
        count(*) filter (
            where in_window and first_response <= interval '{{ var("cx_first_response_sla_minutes") }} minutes'
        ) as answered_within_sla,
        count(*) filter (
            where
            in_window
            and (
                first_response > interval '{{ var("cx_first_response_sla_minutes") }} minutes'
                or (first_response is null and waited > interval '{{ var("cx_first_response_sla_minutes") }} minutes')
            )
        ) as missed_sla
    from cx_conversations
    group by shop_domain
),

cx_csat as (
    select
        messages.shop_domain,
        count(*) as csat_ratings,
        avg(messages.csat_rating) as csat_average,
        count(*) filter (where messages.csat_rating >= 4)::numeric / count(*) as csat_satisfied_share
    from messages
    cross join cx_reference
    where
        messages.csat_rating is not null
        and messages.created_at >= cx_reference.window_start
        and messages.created_at < cx_reference.judged_at
    group by messages.shop_domain
),

cx_figures as (
    select
        cx_replies.*,
        cx_csat.csat_ratings,
        cx_csat.csat_average,
        cx_csat.csat_satisfied_share,
        cx_replies.answered_within_sla::numeric / nullif(cx_replies.answered_within_sla + cx_replies.missed_sla, 0)
            as sla_share
    from cx_replies
    left join cx_csat on cx_replies.shop_domain = cx_csat.shop_domain
),

cx_tile as (
    select
        cx_figures.shop_domain,
        'cx' as tile,
        reference.as_of_date as tile_date,
        cx_figures.open_conversations as headline_value,
        'open conversations' as headline_label,
        round(100 * cx_figures.sla_share, 2) as comparison_value,
        '% of the last 7 days'' decided first replies within the SLA' as comparison_label,
        case
            when cx_figures.sla_share < {{ var('cx_sla_act_share') }} then 'act'
            when cx_figures.sla_share < {{ var('cx_sla_target_share') }} then 'watch'
            when cx_figures.csat_satisfied_share < {{ var('cx_csat_target_share') }} then 'watch'
            else 'ok'
        end as status,
        'Open: ' || cx_figures.open_conversations::text || '. First reply: '
        || coalesce(
            'median ' || round(cx_figures.median_first_response_minutes)::text || ' min, '
            || round(100 * cx_figures.sla_share)::text || '% within {{ var("cx_first_response_sla_minutes") }} min',
            'none decided in 7 days'
        )
        || '. CSAT: '
        || coalesce(
            round(100 * cx_figures.csat_satisfied_share)::text || '% satisfied ('
            || cx_figures.csat_ratings::text || ' ratings).',
            'no rating in 7 days.'
        ) as explanation,
        jsonb_build_object(
            'open_conversations', cx_figures.open_conversations,
            'conversations_last_7_days', cx_figures.conversations_last_7_days,
            'median_first_response_minutes', round(cx_figures.median_first_response_minutes::numeric, 1),
            'answered_within_sla', cx_figures.answered_within_sla,
            'missed_sla', cx_figures.missed_sla,
            'sla_share', round(cx_figures.sla_share, 4),
            'csat_ratings', coalesce(cx_figures.csat_ratings, 0),
            'csat_average', round(cx_figures.csat_average, 2),
            'csat_satisfied_share', round(cx_figures.csat_satisfied_share, 4)
        ) as figures
    from cx_figures
    cross join reference
),

-- SEO: the last 7 days of Search Console's data against the 7 days before (seo_window), for
-- every shop with organic search rows; GA4's organic sessions over the same days.
seo_window as (
    {{ seo_window() }}
),

seo_periods as (
    select
        seo_pages.*,
        seo_window.as_of_date,
        seo_window.window_start,
        seo_window.window_end,
        case
            when seo_pages.report_date between seo_window.window_start and seo_window.window_end then 'last'
            when seo_pages.report_date between seo_window.prior_window_start and seo_window.window_start - 1
                then 'prior'
        end as seo_period
    from seo_pages
    cross join seo_window
),

seo_windows as (
    select
        shop_domain,
        as_of_date,
        window_start,
        window_end,
        coalesce(sum(clicks) filter (where seo_period = 'last'), 0) as clicks_last_7_days,
        coalesce(sum(clicks) filter (where seo_period = 'prior'), 0) as clicks_prior_7_days,
        coalesce(sum(impressions) filter (where seo_period = 'last'), 0) as impressions_last_7_days,
        coalesce(sum(impressions) filter (where seo_period = 'prior'), 0) as impressions_prior_7_days,
        sum(position_impressions) filter (where seo_period = 'last') as position_impressions_last_7_days,
        sum(position_impressions) filter (where seo_period = 'prior') as position_impressions_prior_7_days,
        coalesce(sum(organic_sessions) filter (where seo_period = 'last'), 0) as organic_sessions_last_7_days,
        coalesce(sum(organic_sessions) filter (where seo_period = 'prior'), 0) as organic_sessions_prior_7_days,
        coalesce(sum(organic_key_events) filter (where seo_period = 'last'), 0) as organic_key_events_last_7_days,
        coalesce(sum(organic_revenue) filter (where seo_period = 'last'), 0) as organic_revenue_last_7_days
    from seo_periods
    group by shop_domain, as_of_date, window_start, window_end
),

seo_dropped_counts as (
    select
        shop_domain,
        count(*) as dropped_pages
    from seo_dropped
    group by shop_domain
),

seo_figures as (
    select
        seo_windows.*,
        (seo_windows.clicks_last_7_days - seo_windows.clicks_prior_7_days)::numeric
        / nullif(seo_windows.clicks_prior_7_days, 0) as clicks_change_share,
        (seo_windows.organic_sessions_last_7_days - seo_windows.organic_sessions_prior_7_days)::numeric
        / nullif(seo_windows.organic_sessions_prior_7_days, 0) as sessions_change_share,
        seo_windows.position_impressions_last_7_days / nullif(seo_windows.impressions_last_7_days, 0)
            as average_position_last_7_days,
        seo_windows.position_impressions_prior_7_days / nullif(seo_windows.impressions_prior_7_days, 0)
            as average_position_prior_7_days,
        coalesce(seo_dropped_counts.dropped_pages, 0) as dropped_pages
    from seo_windows
    left join seo_dropped_counts on seo_windows.shop_domain = seo_dropped_counts.shop_domain
),

seo_tile as (
    select
        shop_domain,
        'seo' as tile,
        as_of_date as tile_date,
        clicks_last_7_days as headline_value,
        'organic clicks, the last 7 days of Search Console data' as headline_label,
        clicks_prior_7_days as comparison_value,
        'organic clicks, the 7 days before' as comparison_label,
        case
            when clicks_last_7_days < clicks_prior_7_days * (1 - {{ var('seo_clicks_act_drop_share') }}) then 'act'
            when clicks_last_7_days < clicks_prior_7_days * (1 - {{ var('seo_clicks_watch_drop_share') }}) then 'watch'
            when dropped_pages > 0 or clicks_last_7_days = 0 then 'watch'
            else 'ok'
        end as status,
        'Clicks ' || window_start::text || ' to ' || window_end::text || ': ' || clicks_last_7_days::text
        || coalesce(
            ' (' || {{ kpi_change('clicks_change_share') }} || ' vs ' || clicks_prior_7_days::text || ')',
            ' (none the 7 days before)'
        )
        || '. Organic sessions: ' || organic_sessions_last_7_days::text
        || coalesce(' (' || {{ kpi_change('sessions_change_share') }} || ')', '')
        || '. Average position: '
        || coalesce(
            round(average_position_last_7_days, 1)::text
            || coalesce(' (was ' || round(average_position_prior_7_days, 1)::text || ')', ''),
            'none'
        )
        || '. Dropped pages: ' || dropped_pages::text || '.' as explanation,
        jsonb_build_object(
            'window_start', window_start,
            'window_end', window_end,
            'clicks_last_7_days', clicks_last_7_days,
            'clicks_prior_7_days', clicks_prior_7_days,
            'clicks_change_share', round(clicks_change_share, 4),
            'impressions_last_7_days', impressions_last_7_days,
            'impressions_prior_7_days', impressions_prior_7_days,
            'average_position_last_7_days', round(average_position_last_7_days, 2),
            'average_position_prior_7_days', round(average_position_prior_7_days, 2),
            'organic_sessions_last_7_days', organic_sessions_last_7_days,
            'organic_sessions_prior_7_days', organic_sessions_prior_7_days,
            'sessions_change_share', round(sessions_change_share, 4),
            'organic_key_events_last_7_days', organic_key_events_last_7_days,
            'organic_revenue_last_7_days', organic_revenue_last_7_days,
            'dropped_pages', dropped_pages
        ) as figures
    from seo_figures
),

-- Social: the shop's Instagram posts posted in the 7 days up to the as-of day (in
-- reporting_timezone) against the 7 days before, each with its lifetime insights as last
-- fetched, for every shop with a staged post.
social_reference as (
    select
        as_of_date,
        as_of_date - 6 as window_start,
        (as_of_date - 13)::timestamp at time zone '{{ var("reporting_timezone") }}' as prior_start_at,
        (as_of_date - 6)::timestamp at time zone '{{ var("reporting_timezone") }}' as window_start_at,
        (as_of_date + 1)::timestamp at time zone '{{ var("reporting_timezone") }}' as window_end_at
    from reference
),

social_posts as (
    select
        media.shop_domain,
        media.media_id,
        media.permalink,
        media.posted_at,
        insights.reach,
        media.posted_at >= social_reference.window_start_at as in_window,
        -- likes, comments, saves and shares; the media's own counts until its insights arrive
        coalesce(insights.likes, media.like_count, 0) + coalesce(insights.comments, media.comments_count, 0)
        + coalesce(insights.saved, 0) + coalesce(insights.shares, 0) as engagements
    from media
    cross join social_reference
    left join insights
        on
            media.shop_domain = insights.shop_domain
            and media.media_key = insights.media_key
    where
        media.posted_at >= social_reference.prior_start_at
        and media.posted_at < social_reference.window_end_at
),

social_totals as (
    select
        shop_domain,
        count(*) filter (where in_window) as posts_last_7_days,
        count(*) filter (where not in_window) as posts_prior_7_days,
        coalesce(sum(reach) filter (where in_window), 0) as reach_last_7_days,
        coalesce(sum(reach) filter (where not in_window), 0) as reach_prior_7_days,
        coalesce(sum(engagements) filter (where in_window), 0) as engagements_last_7_days,
        coalesce(sum(engagements) filter (where not in_window), 0) as engagements_prior_7_days,
        -- the rate over the posts whose reach is known
        sum(engagements) filter (where in_window and reach is not null)::numeric
        / nullif(sum(reach) filter (where in_window), 0) as engagement_rate_last_7_days,
        sum(engagements) filter (where not in_window and reach is not null)::numeric
        / nullif(sum(reach) filter (where not in_window), 0) as engagement_rate_prior_7_days
    from social_posts
    group by shop_domain
),

social_top_posts as (
    select distinct on (shop_domain)
        shop_domain,
        media_id as top_post_media_id,
        permalink as top_post_permalink,
        engagements as top_post_engagements,
        reach as top_post_reach
    from social_posts
    where in_window
    order by shop_domain asc, engagements desc, posted_at desc, media_id asc
),

social_shops as (
    select distinct shop_domain from media
),

social_figures as (
    select
        social_shops.shop_domain,
        social_reference.as_of_date,
        social_reference.window_start,
        social_top_posts.top_post_media_id,
        social_top_posts.top_post_permalink,
        social_top_posts.top_post_engagements,
        social_top_posts.top_post_reach,
        social_totals.engagement_rate_last_7_days,
        social_totals.engagement_rate_prior_7_days,
        coalesce(social_totals.posts_last_7_days, 0) as posts_last_7_days,
        coalesce(social_totals.posts_prior_7_days, 0) as posts_prior_7_days,
        coalesce(social_totals.reach_last_7_days, 0) as reach_last_7_days,
        coalesce(social_totals.reach_prior_7_days, 0) as reach_prior_7_days,
        coalesce(social_totals.engagements_last_7_days, 0) as engagements_last_7_days,
        coalesce(social_totals.engagements_prior_7_days, 0) as engagements_prior_7_days,
        (social_totals.reach_last_7_days - social_totals.reach_prior_7_days)::numeric
        / nullif(social_totals.reach_prior_7_days, 0) as reach_change_share
    from social_shops
    cross join social_reference
    left join social_totals on social_shops.shop_domain = social_totals.shop_domain
    left join social_top_posts on social_shops.shop_domain = social_top_posts.shop_domain
),

social_tile as (
    select
        shop_domain,
        'social' as tile,
        as_of_date as tile_date,
        reach_last_7_days as headline_value,
        'reach of the last 7 days'' posts' as headline_label,
        reach_prior_7_days as comparison_value,
        'reach of the 7 days before''s posts' as comparison_label,
        case
            when reach_last_7_days < reach_prior_7_days * (1 - {{ var('social_reach_act_drop_share') }}) then 'act'
            when reach_last_7_days < reach_prior_7_days * (1 - {{ var('social_reach_watch_drop_share') }}) then 'watch'
            when posts_last_7_days = 0 then 'watch'
            when engagement_rate_last_7_days < {{ var('social_min_engagement_rate') }} then 'watch'
            else 'ok'
        end as status,
        'Posts ' || window_start::text || ' to ' || as_of_date::text || ': ' || posts_last_7_days::text
        || ' (' || posts_prior_7_days::text || ' the 7 days before). Reach: ' || reach_last_7_days::text
        || coalesce(
            ' (' || {{ kpi_change('reach_change_share') }} || ' vs ' || reach_prior_7_days::text || ')',
            ' (none the 7 days before)'
        )
        || '. Engagement rate: '
        || coalesce(
            round(100 * engagement_rate_last_7_days, 1)::text || '%'
            || coalesce(' (was ' || round(100 * engagement_rate_prior_7_days, 1)::text || '%)', ''),
            'none'
        )
        || '. Top post: '
        || coalesce(
            coalesce(top_post_permalink, 'media ' || top_post_media_id)
            || ' (' || top_post_engagements::text || ' engagements)',
            'none'
        )
        || '.' as explanation,
        jsonb_build_object(
            'window_start', window_start,
            'window_end', as_of_date,
            'posts_last_7_days', posts_last_7_days,
            'posts_prior_7_days', posts_prior_7_days,
            'reach_last_7_days', reach_last_7_days,
            'reach_prior_7_days', reach_prior_7_days,
            'reach_change_share', round(reach_change_share, 4),
            'engagements_last_7_days', engagements_last_7_days,
            'engagements_prior_7_days', engagements_prior_7_days,
            'engagement_rate_last_7_days', round(engagement_rate_last_7_days, 4),
            'engagement_rate_prior_7_days', round(engagement_rate_prior_7_days, 4),
            'top_post_media_id', top_post_media_id,
            'top_post_permalink', top_post_permalink,
            'top_post_engagements', top_post_engagements,
            'top_post_reach', top_post_reach
        ) as figures
    from social_figures
),

tiles as (
    select * from sales
    union all
    select * from inventory_tile
    union all
    select * from cx_tile
    union all
    select * from seo_tile
    union all
    select * from social_tile
),

final as (
    select
        tiles.shop_domain::text as shop_domain,
        tiles.tile::text as tile,
        tiles.tile_date::date as tile_date,
        tiles.headline_label::text as headline_label,
        tiles.comparison_label::text as comparison_label,
        tiles.status::text as status,
        tiles.explanation::text as explanation,
        tiles.figures::jsonb as figures,
        (tiles.tile_date = reference.as_of_date)::boolean as is_as_of_day,
        round(tiles.headline_value, 2)::numeric as headline_value,
        round(tiles.comparison_value, 2)::numeric as comparison_value
    from tiles
    cross join reference
)

select * from final
