-- models/intermediate/int_shopify__product_variants.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- The catalog at variant grain: product, category (unmapped or empty product_type -> Other),
-- price, unit cost (null when unknown, never zero), units on hand and margin.
with

variants as (
    select * from {{ staging }}.stg_shopify__product_variants
),

products as (
    select * from {{ staging }}.stg_shopify__products
),

category_tree as (
    select * from {{ staging }}.category_tree
),

inventory_items as (
    select * from {{ staging }}.stg_shopify__inventory_items
),

inventory_levels as (
    select * from {{ staging }}.stg_shopify__inventory_levels
),

on_hand as (
    select
        shop_domain,
        inventory_item_id,
        sum(coalesce(available, 0)) as units_on_hand
    from inventory_levels
    group by shop_domain, inventory_item_id
),

joined as (
    select
        variants.shop_domain,
        variants.variant_id,
        variants.product_id,
        variants.sku,
        products.product_type,
        variants.price,
        variants.inventory_item_id,
        products.title as product_title,
        variants.title as variant_title,
        inventory_items.cost as unit_cost,
        coalesce(category_tree.category_l1, 'Other') as category_l1,
        coalesce(category_tree.category_l2, 'Other') as category_l2,
        -- Levels of every location when any is known, else the count on the product payload.
        greatest(coalesce(on_hand.units_on_hand, variants.inventory_quantity, 0), 0) as units_on_hand
    from variants
    left join products
        on
            variants.shop_domain = products.shop_domain
            and variants.product_id = products.product_id
    left join category_tree
        on lower(btrim(products.product_type)) = lower(btrim(category_tree.product_type))
    left join inventory_items
        on
            variants.shop_domain = inventory_items.shop_domain
            and variants.inventory_item_id = inventory_items.inventory_item_id
    left join on_hand
        on
            variants.shop_domain = on_hand.shop_domain
            and variants.inventory_item_id = on_hand.inventory_item_id
),

final as (
    select
        *,
        round((price - unit_cost) * 100 / nullif(price, 0), 2) as margin_pct
    from joined
)

select * from final
