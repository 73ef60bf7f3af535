-- models/intermediate/int_shopify__revenue_daily.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- Net revenue per shop and day: sales on the day the order was placed, refunds on the day they
-- were made (the project's refund convention). Only days with activity have a row.
with

orders as (
    select * from {{ intermediate }}.int_shopify__order_net_revenue
),

refunds as (
    select * from {{ intermediate }}.int_shopify__refunds
),

events as (
    select
        shop_domain,
        order_date as revenue_date,
        gross_sales,
        discounts,
        0::numeric as refunds,
        1 as orders
    from orders
    where counts_toward_revenue

    union all

    select
        shop_domain,
        refund_date as revenue_date,
        0::numeric as gross_sales,
        0::numeric as discounts,
        refund_value as refunds,
        0 as orders
    from refunds
    where counts_toward_revenue
),

final as (
    select
        shop_domain,
        revenue_date,
        date_trunc('month', revenue_date)::date as revenue_month,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(gross_sales) - sum(discounts) - sum(refunds) as net_revenue,
        sum(orders) as orders
    from events
    group by shop_domain, revenue_date
)

select * from final
