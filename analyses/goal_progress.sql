-- Weekly insight: progress toward the yearly revenue goal per shop, as of the as-of date: year
-- to date, remaining, the net revenue per day needed to reach the goal by the year end against
-- the trailing run rate, and this month's projection.
with

growth as (
    select * from {{ ref('growth_metrics') }}
),

current_month as (
    select *
    from growth
    where is_current_month
),

final as (
    select
        shop_domain,
        as_of_date,
        cumulative_net_revenue as net_revenue_year_to_date,
        revenue_goal,
        remaining_to_goal,
        pct_of_goal,
        net_revenue as net_revenue_this_month,
        projected_net_revenue as projected_net_revenue_this_month,
        run_rate_net_revenue_per_day,
        projected_goal_date,
        round(
            remaining_to_goal / ((date_trunc('year', as_of_date) + interval '1 year')::date - as_of_date), 2
        ) as needed_net_revenue_per_day,
        projected_goal_date is not null
        and projected_goal_date < (date_trunc('year', as_of_date) + interval '1 year')::date as on_track_this_year
    from current_month
)

select * from final
order by shop_domain
