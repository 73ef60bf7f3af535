{#-
    A table rebuilt on every run from the winning product versions (a few hundred rows, read by
    primary key from facts): a variant that moves to another product leaves the old one at once,
    which an incremental model keyed on the product would miss.
-#}
{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['shop_domain', 'variant_id'], 'unique': true},
            {'columns': ['shop_domain', 'inventory_item_id']},
        ],
    )
}}

with

products as (
    {{ changed_parents('stg_shopify__products', ['shop_domain', 'product_id']) }}
),

variants as (
    select
        products.parent_fact_id,
        products.shop_domain,
        products.product_id,
        {{ checked_bigint("variant.item ->> 'id'") }} as variant_id,
        coalesce({{ json_integer('variant.item', 'position') }}, variant.ordinal::integer) as position,
        {{ json_string('variant.item', 'sku') }} as sku,
        {{ json_string('variant.item', 'title') }} as title,
        {{ checked_numeric("variant.item ->> 'price'") }} as price,
        {{ json_numeric('variant.item', 'compare_at_price') }} as compare_at_price,
        {{ checked_bigint("variant.item ->> 'inventory_item_id'") }} as inventory_item_id,
        {{ json_integer('variant.item', 'inventory_quantity') }} as inventory_quantity,
        {{ json_timestamptz('variant.item', 'created_at') }} as created_at,
        {{ json_timestamptz('variant.item', 'updated_at') }} as updated_at,
        variant.ordinal
    from products
    cross join
        lateral {{ json_array_elements('products.value', 'variants') }}
        with ordinality as variant (item, ordinal)
),

final as (
    -- A variant id appears once even if two products claim it: the newest product fact wins,
    -- and within one product the first listing of the id. (The id sorts before the shop's text:
    -- the same groups, compared faster.)
    select distinct on (variant_id, shop_domain)
        parent_fact_id,
        shop_domain,
        product_id,
        variant_id,
        position,
        sku,
        title,
        price,
        compare_at_price,
        inventory_item_id,
        inventory_quantity,
        created_at,
        updated_at
    from variants
    order by variant_id asc, shop_domain asc, parent_fact_id desc, ordinal asc
)

select * from final
