-- One row per customer with order lines: the category they spend most on (net of refunds), ties
-- going to the first name. A model of its own, so int_shopify__customer_history does not wait for
-- the order lines: the two are built side by side, and customer_segments joins them.
with

order_lines as (
    select * from {{ ref('int_shopify__order_lines') }}
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

final as (
    {{ top_category_by_net_amount('category_spend', 'top_category_l1') }}
)

select * from final
