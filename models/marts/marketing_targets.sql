{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'campaign', 'net_revenue desc']},
        ],
    )
}}

-- One row per shop, campaign and email address (lower-cased and trimmed) of the customers who
-- consent to email marketing and qualify for the campaign: the export list for Klaviyo or
-- Mailchimp. Guest checkouts give one person several customer ids; when customers share an
-- address in a campaign, the one with the latest counted order is kept (then the highest
-- customer_id).
with

segments as (
    select * from {{ ref('customer_segments') }}
),

orders as (
    select * from {{ ref('int_shopify__order_net_revenue') }}
),

order_lines as (
    select * from {{ ref('int_shopify__order_lines') }}
),

-- An address blank after trimming is no address. Not materialized: each campaign below reads
-- the mart with its own filter, and the address is normalized for its customers only (at 1M,
-- 0.08 s against 0.19 s for the query when the consenting customers were stored first).
reachable as not materialized (
    select
        *,
        lower(btrim(email)) as normalized_email
    from segments
    where accepts_marketing and btrim(email) <> ''
),

targets as (
    select
        *,
        'high_priority_winback' as campaign
    from reachable
    where
        primary_segment = 'professional_shop'
        and lifecycle_stage = 'at_risk'
        and net_revenue > {{ var('winback_min_net_revenue') }}

    union all

    select
        *,
        'reengagement_campaign' as campaign
    from reachable
    where
        primary_segment = 'enthusiast_collector'
        and days_since_last_order between {{ var('reengagement_min_days_since_last_order') }}
        and {{ var('reengagement_max_days_since_last_order') }}

    union all

    select
        *,
        'new_customer_nurture' as campaign
    from reachable
    where
        primary_segment = 'first_time_builder'
        and days_since_first_order < {{ var('nurture_max_days_since_first_order') }}
        and total_orders = 1
),

-- Each target customer's most recent counted order: the latest ordered_at, then the highest
-- order_id. (The customer id sorts before the shop's text: the same groups, compared faster.)
last_orders as (
    select distinct on (orders.customer_id, orders.shop_domain)
        orders.shop_domain,
        orders.customer_id,
        orders.order_id,
        orders.ordered_at
    from orders
    where
        orders.counts_toward_revenue
        and (orders.shop_domain, orders.customer_id) in (
            select
                targets.shop_domain,
                targets.customer_id
            from targets
        )
    order by
        orders.customer_id asc,
        orders.shop_domain asc,
        orders.ordered_at desc,
        orders.order_id desc
),

last_order_categories as (
    select
        last_orders.shop_domain,
        last_orders.customer_id,
        order_lines.category_l1,
        sum(order_lines.net_amount) as net_amount
    from last_orders
    inner join order_lines
        on
            last_orders.shop_domain = order_lines.shop_domain
            and last_orders.order_id = order_lines.order_id
    group by last_orders.shop_domain, last_orders.customer_id, order_lines.category_l1
),

-- The category with the most net amount in that order; a tie goes to the first by name.
last_category as (
    {{ top_category_by_net_amount('last_order_categories', 'last_category_l1') }}
),

-- One customer per shop, campaign and address: the latest counted order, then the highest id.
deduplicated as (
    select distinct on (targets.shop_domain, targets.campaign, targets.normalized_email)
        targets.*,
        last_category.last_category_l1
    from targets
    left join last_orders
        on
            targets.shop_domain = last_orders.shop_domain
            and targets.customer_id = last_orders.customer_id
    left join last_category
        on
            targets.shop_domain = last_category.shop_domain
            and targets.customer_id = last_category.customer_id
    order by
        targets.shop_domain asc,
        targets.campaign asc,
        targets.normalized_email asc,
        last_orders.ordered_at desc nulls last,
        targets.customer_id desc
),

final as (
    select
        shop_domain::text as shop_domain,
        customer_id::bigint as customer_id,
        campaign::text as campaign,
        normalized_email::text as email,
        -- Klaviyo's email marketing consent status; only consenting customers are listed.
        (case when accepts_marketing then 'SUBSCRIBED' end)::text as email_marketing_consent,
        first_name::text as first_name,
        last_name::text as last_name,
        primary_segment::text as primary_segment,
        lifecycle_stage::text as lifecycle_stage,
        top_category_l1::text as top_category_l1,
        {{ content_theme('top_category_l1') }}::text as content_theme,
        last_category_l1::text as last_category_l1,
        (
            case
                when campaign = 'high_priority_winback' and last_category_l1 is not null
                    then ({{ var('winback_offer_pct') }})::numeric::text || '% off ' || last_category_l1
            end
        )::text as offer,
        total_orders::bigint as total_orders,
        net_revenue::numeric as net_revenue,
        days_since_first_order::integer as days_since_first_order,
        days_since_last_order::integer as days_since_last_order,
        as_of_date::date as as_of_date
    from deduplicated
)

select * from final
