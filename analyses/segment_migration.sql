-- Weekly insight: how customers moved between lifecycle stages over the last 7 days, per shop.
-- Each customer's stage is computed as of the as-of date and as of 7 days before it, from the
-- orders known at each date, with the same rule as customer_segments (macro lifecycle_stage).
-- 'none' means no order that counts yet.
with

orders as (
    select * from {{ ref('int_shopify__order_net_revenue') }}
),

reference_dates as (
    select
        'now' as at,
        {{ as_of_date() }} as reference_date
    union all
    select
        'week_ago' as at,
        {{ as_of_date() }} - 7 as reference_date
),

history as (
    select
        orders.shop_domain,
        orders.customer_id,
        reference_dates.at,
        reference_dates.reference_date - min(orders.order_date) as days_since_first_order,
        reference_dates.reference_date - max(orders.order_date) as days_since_last_order
    from orders
    inner join reference_dates on orders.order_date <= reference_dates.reference_date
    where orders.counts_toward_revenue and orders.customer_id is not null
    group by orders.shop_domain, orders.customer_id, reference_dates.at, reference_dates.reference_date
),

stages as (
    select
        shop_domain,
        customer_id,
        at,
        {{ lifecycle_stage('days_since_first_order', 'days_since_last_order') }} as lifecycle_stage
    from history
),

migrations as (
    select
        now_stage.shop_domain,
        now_stage.lifecycle_stage as to_stage,
        coalesce(week_ago.lifecycle_stage, 'none') as from_stage
    from stages as now_stage
    left join stages as week_ago
        on
            now_stage.shop_domain = week_ago.shop_domain
            and now_stage.customer_id = week_ago.customer_id
            and week_ago.at = 'week_ago'
    where now_stage.at = 'now'
),

final as (
    select
        shop_domain,
        from_stage,
        to_stage,
        count(*) as customers
    from migrations
    group by shop_domain, from_stage, to_stage
)

select * from final
order by shop_domain asc, from_stage asc, to_stage asc
