{{ config(materialized='view') }}

-- Units sold (net of refunded units) and net sales per variant and calendar month of the order.
-- A view: no model reads it, and no role but the build's own reads the intermediate schema, so
-- it is computed when read instead of rebuilt every night.
with

order_lines as (
    select * from {{ ref('int_shopify__order_lines') }}
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
