-- models/marts/customer_segment_summary.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- The segment breakdown a dashboard tile reads: customers, orders and net revenue per shop,
-- primary segment and lifecycle stage, summed from customer_segments once per build, so a tile
-- reads a handful of rows instead of every customer of the shop.
with

segments as (
    select * from {{ marts }}.customer_segments
),

final as (
    select
        shop_domain,
        primary_segment,
        lifecycle_stage,
        count(*) as customers,
        count(*) filter (where accepts_marketing) as customers_accepting_marketing,
        sum(total_orders)::bigint as total_orders,
        sum(net_revenue) as net_revenue,
        round(avg(net_revenue), 2) as average_net_revenue,
        max(as_of_date) as as_of_date
    from segments
    group by shop_domain, primary_segment, lifecycle_stage
)

select * from final
