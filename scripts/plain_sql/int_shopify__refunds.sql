-- models/intermediate/int_shopify__refunds.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- One row per refund up to the as-of date, valued without tax: the refunded line items'
-- subtotals, or the refund transactions when the refund names no line items.
with

refunds as (
    select * from {{ staging }}.stg_shopify__refunds
),

refund_line_items as (
    select * from {{ staging }}.stg_shopify__refund_line_items
),

orders as (
    select * from {{ staging }}.stg_shopify__orders
),

line_totals as (
    select
        shop_domain,
        refund_id,
        sum(subtotal) as line_subtotal,
        sum(quantity) as units_refunded
    from refund_line_items
    group by shop_domain, refund_id
),

dated as (
    select
        refunds.shop_domain,
        refunds.refund_id,
        refunds.order_id,
        refunds.created_at as refunded_at,
        (refunds.created_at at time zone 'UTC')::date as refund_date,
        coalesce(line_totals.line_subtotal, refunds.refund_amount) as refund_value,
        coalesce(line_totals.units_refunded, 0) as units_refunded,
        coalesce((not orders.is_cancelled and not orders.is_test), false) as counts_toward_revenue
    from refunds
    left join line_totals
        on
            refunds.shop_domain = line_totals.shop_domain
            and refunds.refund_id = line_totals.refund_id
    left join orders
        on
            refunds.shop_domain = orders.shop_domain
            and refunds.order_id = orders.order_id
),

final as (
    select
        shop_domain,
        refund_id,
        order_id,
        refunded_at,
        refund_date,
        counts_toward_revenue,
        units_refunded,
        date_trunc('month', refund_date)::date as refund_month,
        case when counts_toward_revenue then refund_value else 0 end as refund_value
    from dated
    where refund_date <= {{ as_of_date }}
)

select * from final
