-- models/marts/marketing_targets.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- One row per customer and campaign they qualify for, only for customers who consent to email
-- marketing and have an email: the export list for Klaviyo or Mailchimp.
with

segments as (
    select * from {{ marts }}.customer_segments
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
        and net_revenue > 5000

    union all

    select
        *,
        'reengagement_campaign' as campaign
    from reachable
    where
        primary_segment = 'enthusiast_collector'
        and days_since_last_order between 45
        and 60

    union all

    select
        *,
        'new_customer_nurture' as campaign
    from reachable
    where
        primary_segment = 'first_time_builder'
        and days_since_first_order < 14
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
        case top_category_l1
        when 'Engine & Drivetrain' then 'engine_specialist'
        when 'Suspension & Steering' then 'chassis_builder'
        else 'general_hotrod'
    end::text as content_theme,
        total_orders::bigint as total_orders,
        net_revenue::numeric as net_revenue,
        days_since_first_order::integer as days_since_first_order,
        days_since_last_order::integer as days_since_last_order,
        as_of_date::date as as_of_date
    from targets
)

select * from final
