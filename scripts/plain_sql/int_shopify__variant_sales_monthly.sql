-- models/intermediate/int_shopify__variant_sales_monthly.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- Units sold (net of refunded units) and net sales per variant and calendar month of the order.
with

order_lines as (
    select * from {{ intermediate }}.int_shopify__order_lines
),

final as (
    select
        shop_domain,
        variant_id,
        order_month as sales_month,
        sum(units_sold) as units_sold,
        sum(net_amount) as net_sales,
        count(distinct order_id) as orders
    from order_lines
    where variant_id is not null
    group by shop_domain, variant_id, order_month
)

select * from final
