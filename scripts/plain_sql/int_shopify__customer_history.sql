-- models/intermediate/int_shopify__customer_history.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- One row per customer with at least one order that counts: first and last order, order counts,
-- money (net revenue after every refund of their orders) and the category they spend most on.
with

orders as (
    select * from {{ intermediate }}.int_shopify__order_net_revenue
),

order_lines as (
    select * from {{ intermediate }}.int_shopify__order_lines
),

customer_orders as (
    select
        shop_domain,
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as total_orders,
        count(*) filter (where order_date > {{ as_of_date }} - 365) as orders_last_365_days,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(net_revenue) as net_revenue
    from orders
    where counts_toward_revenue and customer_id is not null
    group by shop_domain, customer_id
),

category_spend as (
    select
        shop_domain,
        customer_id,
        category_l1,
        sum(net_amount) as net_amount
    from order_lines
    where customer_id is not null
    group by shop_domain, customer_id, category_l1
),

top_category as (
    select distinct on (shop_domain, customer_id)
        shop_domain,
        customer_id,
        category_l1 as top_category_l1
    from category_spend
    order by shop_domain asc, customer_id asc, net_amount desc, category_l1 asc
),

final as (
    select
        customer_orders.shop_domain,
        customer_orders.customer_id,
        customer_orders.first_order_at,
        customer_orders.last_order_at,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.total_orders,
        customer_orders.orders_last_365_days,
        customer_orders.gross_sales,
        customer_orders.discounts,
        customer_orders.refunds,
        customer_orders.net_revenue,
        customer_orders.net_revenue / customer_orders.total_orders as average_order_value,
        {{ as_of_date }} - customer_orders.first_order_date as days_since_first_order,
        {{ as_of_date }} - customer_orders.last_order_date as days_since_last_order,
        coalesce(top_category.top_category_l1, 'Other') as top_category_l1
    from customer_orders
    left join top_category
        on
            customer_orders.shop_domain = top_category.shop_domain
            and customer_orders.customer_id = top_category.customer_id
)

select * from final
