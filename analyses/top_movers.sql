-- Weekly insight: the variants whose units sold moved most between the last 7 days (up to the
-- as-of date) and the 7 days before, per shop. Run: dbt compile --select top_movers, then
-- execute target/compiled/.../top_movers.sql (add --vars '{as_of_date: ...}' for a past week).
with

order_lines as (
    select * from {{ ref('int_shopify__order_lines') }}
),

product_categories as (
    select * from {{ ref('product_categories') }}
),

weekly as (
    select
        shop_domain,
        variant_id,
        sum(units_sold) filter (where order_date > {{ as_of_date() }} - 7) as units_this_week,
        sum(units_sold) filter (
            where order_date <= {{ as_of_date() }} - 7 and order_date > {{ as_of_date() }} - 14
        ) as units_last_week,
        sum(net_amount) filter (where order_date > {{ as_of_date() }} - 7) as net_sales_this_week,
        sum(net_amount) filter (
            where order_date <= {{ as_of_date() }} - 7 and order_date > {{ as_of_date() }} - 14
        ) as net_sales_last_week
    from order_lines
    where order_date > {{ as_of_date() }} - 14
    group by shop_domain, variant_id
),

moves as (
    select
        weekly.shop_domain,
        weekly.variant_id,
        product_categories.product_title,
        product_categories.variant_title,
        product_categories.category_l1,
        coalesce(weekly.units_this_week, 0) as units_this_week,
        coalesce(weekly.units_last_week, 0) as units_last_week,
        coalesce(weekly.units_this_week, 0) - coalesce(weekly.units_last_week, 0) as units_change,
        coalesce(weekly.net_sales_this_week, 0) - coalesce(weekly.net_sales_last_week, 0) as net_sales_change
    from weekly
    left join product_categories
        on
            weekly.shop_domain = product_categories.shop_domain
            and weekly.variant_id = product_categories.variant_id
),

final as (
    select
        *,
        rank() over (partition by shop_domain order by abs(net_sales_change) desc) as move_rank
    from moves
)

select * from final
where move_rank <= 20
order by shop_domain asc, move_rank asc
