-- models/marts/product_categories.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- Every catalog variant with its product, category, price, unit cost, margin and sales velocity
-- over the trailing window (var sales_window_days) up to the as-of date.
with

product_variants as (
    select * from {{ intermediate }}.int_shopify__product_variants
),

variant_sales as (
    select * from {{ intermediate }}.int_shopify__variant_sales
),

final as (
    select
        product_variants.shop_domain::text as shop_domain,
        product_variants.variant_id::bigint as variant_id,
        product_variants.product_id::bigint as product_id,
        product_variants.product_title::text as product_title,
        product_variants.variant_title::text as variant_title,
        product_variants.sku::text as sku,
        product_variants.product_type::text as product_type,
        product_variants.category_l1::text as category_l1,
        product_variants.category_l2::text as category_l2,
        product_variants.price::numeric as price,
        product_variants.unit_cost::numeric as unit_cost,
        product_variants.margin_pct::numeric as margin_pct,
        variant_sales.units_sold_in_window::bigint as units_sold_in_window,
        round(variant_sales.units_per_month, 2)::numeric as units_sold_per_month,
        variant_sales.net_sales_in_window::numeric as net_sales_in_window,
        variant_sales.last_sold_on::date as last_sold_on,
        variant_sales.inventory_velocity::text as inventory_velocity,
        {{ as_of_date }}::date as as_of_date
    from product_variants
    inner join variant_sales
        on
            product_variants.shop_domain = variant_sales.shop_domain
            and product_variants.variant_id = variant_sales.variant_id
)

select * from final
