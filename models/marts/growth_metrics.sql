{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'month desc']},
        ],
    )
}}

-- Net revenue per shop and month against the yearly goal, from the shop's first month with
-- activity to the month of the as-of date. Sales count in the month of the order, refunds in the
-- month of the refund. The current month projects to its net so far plus the run rate for each
-- day left after the as-of day; past months project to their actuals. The run rate counts completed
-- days only: the as-of day is under way (a nightly build runs early in it), so it is left out.
with

daily as (
    select * from {{ ref('int_shopify__revenue_daily') }}
),

orders as (
    select * from {{ ref('int_shopify__order_net_revenue') }}
),

customers as (
    select * from {{ ref('int_shopify__customer_history') }}
),

reference as (
    select
        {{ as_of_date() }} as as_of_date,
        date_trunc('month', {{ as_of_date() }})::date as current_month,
        -- The same day goal_run_rate_months months earlier (the month's last day when it has no such day).
        ({{ as_of_date() }} - interval '{{ var("goal_run_rate_months") }} months')::date as run_rate_window_start
),

-- Each shop's first day and month with activity (an order that counts or a refund).
shops as (
    select
        shop_domain,
        min(revenue_date) as first_day,
        min(revenue_month) as first_month
    from daily
    group by shop_domain
),

shop_months as (
    select
        shops.shop_domain,
        months.month::date as month
    from shops
    cross join reference
    cross join lateral generate_series(shops.first_month, reference.current_month, interval '1 month') as months (month)
),

monthly_money as (
    select
        shop_domain,
        revenue_month as month,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(net_revenue) as net_revenue
    from daily
    group by shop_domain, revenue_month
),

-- Orders per customer and month first (one hashing pass; the customers of a month are then its
-- rows), rather than count(distinct), which sorts every order.
customer_months as (
    select
        shop_domain,
        order_month,
        customer_id,
        count(*) as orders
    from orders
    where counts_toward_revenue
    group by shop_domain, order_month, customer_id
),

monthly_orders as (
    select
        shop_domain,
        order_month as month,
        sum(orders)::bigint as orders,
        count(customer_id) as customers
    from customer_months
    group by shop_domain, order_month
),

-- A customer is new in the month of their first order that counts: int_shopify__customer_history
-- holds one row per customer with an order that counts, from the same orders (order_month is the
-- month of order_date), maintained night by night rather than grouped again from every order.
monthly_new_customers as (
    select
        shop_domain,
        date_trunc('month', first_order_date)::date as month,
        count(*) as new_customers
    from customers
    group by shop_domain, date_trunc('month', first_order_date)
),

-- The first day on which each year's cumulative net revenue reached the goal.
daily_cumulative as (
    select
        shop_domain,
        revenue_date,
        sum(net_revenue) over (
            partition by shop_domain, date_trunc('year', revenue_date)
            order by revenue_date
        ) as cumulative_net_revenue
    from daily
),

goal_reached as (
    select
        shop_domain,
        date_trunc('year', revenue_date)::date as goal_year,
        min(revenue_date) as goal_reached_on
    from daily_cumulative
    where cumulative_net_revenue >= {{ var('revenue_goal') }}
    group by shop_domain, date_trunc('year', revenue_date)
),

-- The run rate's window: the completed days from the window start (included; the shop's first
-- day when it is later) to the day before the as-of date. The as-of day is not complete.
run_rate_windows as (
    select
        shops.shop_domain,
        reference.as_of_date,
        greatest(reference.run_rate_window_start, shops.first_day) as window_start
    from shops
    cross join reference
),

run_rate as (
    select
        windows.shop_domain,
        coalesce(sum(daily.net_revenue), 0) as run_rate_net_revenue,
        greatest(windows.as_of_date - windows.window_start, 0) as run_rate_days
    from run_rate_windows as windows
    left join daily
        on
            windows.shop_domain = daily.shop_domain
            and windows.window_start <= daily.revenue_date
            and windows.as_of_date > daily.revenue_date
    group by windows.shop_domain, windows.as_of_date, windows.window_start
),

monthly as (
    select
        shop_months.shop_domain,
        shop_months.month,
        reference.as_of_date,
        goal_reached.goal_reached_on,
        run_rate.run_rate_net_revenue,
        run_rate.run_rate_days,
        shop_months.month = reference.current_month as is_current_month,
        coalesce(monthly_money.gross_sales, 0) as gross_sales,
        coalesce(monthly_money.discounts, 0) as discounts,
        coalesce(monthly_money.refunds, 0) as refunds,
        coalesce(monthly_money.net_revenue, 0) as net_revenue,
        coalesce(monthly_orders.orders, 0) as orders,
        coalesce(monthly_orders.customers, 0) as customers,
        coalesce(monthly_new_customers.new_customers, 0) as new_customers,
        extract(day from (shop_months.month + interval '1 month' - interval '1 day'))::integer as days_in_month,
        (shop_months.month + interval '1 month' - interval '1 day')::date as month_end
    from shop_months
    cross join reference
    left join monthly_money
        on
            shop_months.shop_domain = monthly_money.shop_domain
            and shop_months.month = monthly_money.month
    left join monthly_orders
        on
            shop_months.shop_domain = monthly_orders.shop_domain
            and shop_months.month = monthly_orders.month
    left join monthly_new_customers
        on
            shop_months.shop_domain = monthly_new_customers.shop_domain
            and shop_months.month = monthly_new_customers.month
    left join goal_reached
        on
            shop_months.shop_domain = goal_reached.shop_domain
            and date_trunc('year', shop_months.month)::date = goal_reached.goal_year
    left join run_rate
        on shop_months.shop_domain = run_rate.shop_domain
),

cumulated as (
    select
        *,
        -- Days of the month elapsed by the as-of date, the as-of day itself included: never 0.
        case
            when is_current_month then extract(day from as_of_date)::integer
            else days_in_month
        end as days_elapsed,
        sum(net_revenue) over (
            partition by shop_domain, date_trunc('year', month)
            order by month
        ) as cumulative_net_revenue
    from monthly
),

projected as (
    select
        *,
        greatest({{ var('revenue_goal') }} - cumulative_net_revenue, 0) as remaining_to_goal,
        -- Net so far (the as-of day's included) + the run rate x the days after the as-of day;
        -- null without a completed day to take a rate from.
        case
            when is_current_month
                then round(
                    net_revenue
                    + run_rate_net_revenue * (days_in_month - days_elapsed) / nullif(run_rate_days, 0),
                    2
                )
            else net_revenue
        end as projected_net_revenue,
        case
            when goal_reached_on <= least(month_end, as_of_date) then goal_reached_on
            when not is_current_month then null
            -- Days to go = remaining / (net / days), written without the inexact division.
            when run_rate_days > 0 and run_rate_net_revenue > 0
                then as_of_date + ceil(
                    ({{ var('revenue_goal') }} - cumulative_net_revenue) * run_rate_days / run_rate_net_revenue
                )::integer
        end as projected_goal_date
    from cumulated
),

final as (
    select
        shop_domain::text as shop_domain,
        month::date as month,
        as_of_date::date as as_of_date,
        is_current_month::boolean as is_current_month,
        gross_sales::numeric as gross_sales,
        discounts::numeric as discounts,
        refunds::numeric as refunds,
        net_revenue::numeric as net_revenue,
        orders::bigint as orders,
        customers::bigint as customers,
        new_customers::bigint as new_customers,
        round((gross_sales - discounts) / nullif(orders, 0), 2)::numeric as average_order_value,
        cumulative_net_revenue::numeric as cumulative_net_revenue,
        {{ var('revenue_goal') }}::numeric as revenue_goal,
        remaining_to_goal::numeric as remaining_to_goal,
        round(cumulative_net_revenue * 100 / {{ var('revenue_goal') }}, 2)::numeric as pct_of_goal,
        days_elapsed::integer as days_elapsed,
        days_in_month::integer as days_in_month,
        projected_net_revenue::numeric as projected_net_revenue,
        (case when is_current_month then round(run_rate_net_revenue / nullif(run_rate_days, 0), 2) end)::numeric
            as run_rate_net_revenue_per_day,
        projected_goal_date::date as projected_goal_date
    from projected
)

select * from final
