{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'campaign', 'net_revenue desc']},
        ],
    )
}}

-- One row per customer and campaign they qualify for, only for customers who consent to email
-- marketing and have an email: the export list for Klaviyo or Mailchimp.
with

segments as (
    select * from {{ ref('customer_segments') }}
),

reachable as (
    select *
    from segments
    where accepts_marketing and email is not null
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

final as (
    select
        shop_domain::text as shop_domain,
        customer_id::bigint as customer_id,
        campaign::text as campaign,
        email::text as email,
        first_name::text as first_name,
        last_name::text as last_name,
        primary_segment::text as primary_segment,
        lifecycle_stage::text as lifecycle_stage,
        top_category_l1::text as top_category_l1,
        {{ content_theme('top_category_l1') }}::text as content_theme,
        total_orders::bigint as total_orders,
        net_revenue::numeric as net_revenue,
        days_since_first_order::integer as days_since_first_order,
        days_since_last_order::integer as days_since_last_order,
        as_of_date::date as as_of_date
    from targets
)

select * from final
