{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'drop_rank']},
        ],
    )
}}

-- The SEO tile's anomaly list: landing pages whose organic clicks in the last 7 days of Search
-- Console's data fell by more than var seo_page_drop_share against the 7 days before, among
-- pages with at least var seo_page_min_clicks clicks in those days before (docs/kpis.md "SEO").
-- The last 7 days end var seo_report_lag_days before the as-of date: Search Console publishes a
-- day 2-3 days late.
with

pages as (
    select * from {{ ref('int_seo__page_daily') }}
),

seo_window as (
    {{ seo_window() }}
),

page_windows as (
    select
        pages.shop_domain,
        pages.page_path,
        seo_window.window_start,
        seo_window.window_end,
        sum(pages.clicks) filter (where pages.report_date >= seo_window.window_start) as clicks_last_7_days,
        sum(pages.clicks) filter (where pages.report_date < seo_window.window_start) as clicks_prior_7_days,
        sum(pages.impressions) filter (where pages.report_date >= seo_window.window_start)
            as impressions_last_7_days,
        sum(pages.impressions) filter (where pages.report_date < seo_window.window_start)
            as impressions_prior_7_days,
        sum(pages.position_impressions) filter (where pages.report_date >= seo_window.window_start)
            as position_impressions_last_7_days,
        sum(pages.position_impressions) filter (where pages.report_date < seo_window.window_start)
            as position_impressions_prior_7_days,
        sum(pages.organic_sessions) filter (where pages.report_date >= seo_window.window_start)
            as organic_sessions_last_7_days,
        sum(pages.organic_sessions) filter (where pages.report_date < seo_window.window_start)
            as organic_sessions_prior_7_days
    from pages
    cross join seo_window
    where pages.report_date between seo_window.prior_window_start and seo_window.window_end
    group by pages.shop_domain, pages.page_path, seo_window.window_start, seo_window.window_end
),

dropped as (
    select
        shop_domain,
        page_path,
        window_start,
        window_end,
        clicks_prior_7_days,
        coalesce(clicks_last_7_days, 0) as clicks_last_7_days,
        coalesce(impressions_last_7_days, 0) as impressions_last_7_days,
        coalesce(impressions_prior_7_days, 0) as impressions_prior_7_days,
        position_impressions_last_7_days / nullif(impressions_last_7_days, 0) as average_position_last_7_days,
        position_impressions_prior_7_days / nullif(impressions_prior_7_days, 0) as average_position_prior_7_days,
        coalesce(organic_sessions_last_7_days, 0) as organic_sessions_last_7_days,
        coalesce(organic_sessions_prior_7_days, 0) as organic_sessions_prior_7_days
    from page_windows
    where
        clicks_prior_7_days >= {{ var('seo_page_min_clicks') }}
        and coalesce(clicks_last_7_days, 0) < clicks_prior_7_days * (1 - {{ var('seo_page_drop_share') }})
),

final as (
    select
        shop_domain::text as shop_domain,
        page_path::text as page_path,
        window_start::date as window_start,
        window_end::date as window_end,
        clicks_last_7_days::bigint as clicks_last_7_days,
        clicks_prior_7_days::bigint as clicks_prior_7_days,
        impressions_last_7_days::bigint as impressions_last_7_days,
        impressions_prior_7_days::bigint as impressions_prior_7_days,
        organic_sessions_last_7_days::bigint as organic_sessions_last_7_days,
        organic_sessions_prior_7_days::bigint as organic_sessions_prior_7_days,
        (clicks_last_7_days - clicks_prior_7_days)::bigint as clicks_change,
        round((clicks_last_7_days - clicks_prior_7_days)::numeric / clicks_prior_7_days, 4)::numeric
            as clicks_change_share,
        round(average_position_last_7_days, 2)::numeric as average_position_last_7_days,
        round(average_position_prior_7_days, 2)::numeric as average_position_prior_7_days,
        (row_number() over (
            partition by shop_domain
            order by clicks_last_7_days - clicks_prior_7_days, page_path
        ))::integer as drop_rank
    from dropped
)

select * from final
