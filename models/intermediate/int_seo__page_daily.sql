-- Organic search per shop, day and landing page path: Search Console's web clicks, impressions
-- and position, and GA4's organic sessions, key events and revenue (docs/kpis.md "SEO").
--
-- The app may fetch one site with several dimension sets (by page, by page and query, by page
-- and device...), whose rows overlap: summing them all would count a click twice. Each source
-- therefore counts, per shop and day, the rows of one report only: the one with the fewest
-- breakdowns besides the page (then by name, then site or property), its rows summed per page.
-- Hourly rows, rows without a page and Search Console's other search types (image, video,
-- news, discover) are left out.
with

search_analytics as (
    select * from {{ ref('stg_search_console__search_analytics') }}
),

landing_pages as (
    select * from {{ ref('stg_ga4__landing_pages') }}
),

search_rows as (
    select
        shop_domain,
        report_date,
        site_url,
        aggregation_type,
        page,
        clicks,
        impressions,
        position,
        num_nonnulls(query, device, country, search_appearance) as breakdowns,
        concat_ws(
            ',',
            case when query is not null then 'query' end,
            case when device is not null then 'device' end,
            case when country is not null then 'country' end,
            case when search_appearance is not null then 'searchAppearance' end
        ) as report_dimensions
    from search_analytics
    where
        search_type = 'web'
        and page is not null
        and report_hour is null
        and report_date is not null
),

search_reports as (
    select
        *,
        dense_rank() over (
            partition by shop_domain, report_date
            order by breakdowns, report_dimensions, site_url, aggregation_type
        ) as report_rank
    from search_rows
),

search_pages as (
    select
        shop_domain,
        report_date,
        {{ seo_page_path("page") }} as page_path,
        sum(clicks) as clicks,
        sum(impressions) as impressions,
        sum(position * impressions) as position_impressions
    from search_reports
    where report_rank = 1
    group by shop_domain, report_date, {{ seo_page_path("page") }}
),

ga4_rows as (
    select
        shop_domain,
        report_date,
        property_id,
        landing_page,
        sessions,
        key_events,
        total_revenue,
        num_nonnulls(source_medium, device_category) as breakdowns,
        concat_ws(
            ',',
            case when source_medium is not null then 'sessionSourceMedium' end,
            case when device_category is not null then 'deviceCategory' end
        ) as report_dimensions
    from landing_pages
    where
        channel_group = 'Organic Search'
        and landing_page is not null
        and report_date is not null
),

ga4_reports as (
    select
        *,
        dense_rank() over (
            partition by shop_domain, report_date
            order by breakdowns, report_dimensions, property_id
        ) as report_rank
    from ga4_rows
),

ga4_pages as (
    select
        shop_domain,
        report_date,
        {{ seo_page_path("landing_page") }} as page_path,
        sum(sessions) as organic_sessions,
        sum(key_events) as organic_key_events,
        sum(total_revenue) as organic_revenue
    from ga4_reports
    where report_rank = 1
    group by shop_domain, report_date, {{ seo_page_path("landing_page") }}
),

final as (
    select
        coalesce(search_pages.shop_domain, ga4_pages.shop_domain) as shop_domain,
        coalesce(search_pages.report_date, ga4_pages.report_date) as report_date,
        coalesce(search_pages.page_path, ga4_pages.page_path) as page_path,
        coalesce(search_pages.clicks, 0) as clicks,
        coalesce(search_pages.impressions, 0) as impressions,
        coalesce(search_pages.position_impressions, 0) as position_impressions,
        coalesce(ga4_pages.organic_sessions, 0) as organic_sessions,
        coalesce(ga4_pages.organic_key_events, 0) as organic_key_events,
        coalesce(ga4_pages.organic_revenue, 0) as organic_revenue
    from search_pages
    full join ga4_pages
        on
            search_pages.shop_domain = ga4_pages.shop_domain
            and search_pages.report_date = ga4_pages.report_date
            and search_pages.page_path = ga4_pages.page_path
)

select * from final
