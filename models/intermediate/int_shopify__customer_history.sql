{%- set keys = ['shop_domain', 'customer_id'] -%}
{%- set sources = [{
    'model': 'int_shopify__order_net_revenue',
    'changes': true,
    'window': {'date': 'order_date', 'days': 365, 'where': 'counts_toward_revenue'},
}] -%}
{{ intermediate_incremental_config(keys, sources, []) }}
{%- set state = incremental_state([], sources) if is_incremental() else none %}

-- One row per customer with at least one order that counts: first and last order, order counts
-- and money (net revenue after every refund of their orders). The category they spend most on is
-- int_shopify__customer_top_category, built from the order lines alongside this model. Built
-- incrementally (macros/incremental.sql): a customer is recomputed when int_shopify__order_net_revenue
-- recomputed one of their orders (one that was theirs or is now), or when one of their orders
-- crosses the edge of the 365 days before the as-of date as it moves. Days since the first and
-- last order move every day: customer_segments counts them.
with

{% if state is not none %}
    changed as (
        {{ changed_keys(keys, sources, state) }}
    ),
{% endif %}

orders as (
    select * from {{ ref('int_shopify__order_net_revenue') }}
    where {{ in_changed(keys, state) }}
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
        count(*) filter (where order_date > {{ as_of_date() }} - 365) as orders_last_365_days,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(net_revenue) as net_revenue
    from orders
    where counts_toward_revenue and customer_id is not null
    group by shop_domain, customer_id
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
        customer_orders.net_revenue / customer_orders.total_orders as average_order_value
    from customer_orders
)

select * from final
