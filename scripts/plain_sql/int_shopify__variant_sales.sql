-- models/intermediate/int_shopify__variant_sales.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- Sales of every catalog variant over the trailing window (var sales_window_days, the as-of day
-- included): units sold net of refunded units, units per 30-day month, and the velocity band.
with

product_variants as (
    select * from {{ intermediate }}.int_shopify__product_variants
),

order_lines as (
    select * from {{ intermediate }}.int_shopify__order_lines
),

window_sales as (
    select
        shop_domain,
        variant_id,
        sum(units_sold) as units_sold_in_window,
        sum(net_amount) as net_sales_in_window
    from order_lines
    where order_date > {{ as_of_date }} - 90
    group by shop_domain, variant_id
),

last_sales as (
    select
        shop_domain,
        variant_id,
        max(order_date) as last_sold_on
    from order_lines
    where units_sold > 0
    group by shop_domain, variant_id
),

joined as (
    select
        product_variants.shop_domain,
        product_variants.variant_id,
        coalesce(window_sales.units_sold_in_window, 0) as units_sold_in_window,
        coalesce(window_sales.net_sales_in_window, 0) as net_sales_in_window,
        coalesce(window_sales.units_sold_in_window, 0) * 30.0 / 90 as units_per_month,
        last_sales.last_sold_on
    from product_variants
    left join window_sales
        on
            product_variants.shop_domain = window_sales.shop_domain
            and product_variants.variant_id = window_sales.variant_id
    left join last_sales
        on
            product_variants.shop_domain = last_sales.shop_domain
            and product_variants.variant_id = last_sales.variant_id
),

final as (
    select
        shop_domain,
        variant_id,
        units_sold_in_window,
        net_sales_in_window,
        units_per_month,
        last_sold_on,
        case
            when units_sold_in_window <= 0 then 'dead'
            -- Compared without dividing, so a band's edge is met exactly.
            when
                units_sold_in_window * 30
                >= 10 * 90
                then 'fast'
            when
                units_sold_in_window * 30
                >= 3 * 90
                then 'medium'
            else 'slow'
        end as inventory_velocity
    from joined
)

select * from final
