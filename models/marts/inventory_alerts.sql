{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'capital_tied_up desc nulls last']},
            {'columns': ['shop_domain', 'recommended_action']},
        ],
    )
}}

-- Every catalog variant with the stock it holds, the capital tied up in it, its months of cover
-- and the recommended action. capital_rank orders all of a shop's variants by capital tied up;
-- slow_mover_rank orders only its slow movers (to discount or discontinue, with capital tied up
-- above 0), and the first var daily_email_top_n of them feed the daily email: a variant to
-- reorder or monitor never takes a place there, whatever its capital. Unknown cost gives null
-- capital, never zero.
with

product_variants as (
    select * from {{ ref('int_shopify__product_variants') }}
),

variant_sales as (
    select * from {{ ref('int_shopify__variant_sales') }}
),

joined as (
    select
        product_variants.shop_domain,
        product_variants.variant_id,
        product_variants.product_id,
        product_variants.product_title,
        product_variants.variant_title,
        product_variants.sku,
        product_variants.category_l1,
        product_variants.units_on_hand,
        product_variants.unit_cost,
        product_variants.margin_pct,
        variant_sales.units_sold_in_window,
        variant_sales.units_per_month,
        variant_sales.inventory_velocity,
        product_variants.units_on_hand * product_variants.unit_cost as capital_tied_up,
        -- From the window's units, not the rounded monthly rate: 2 on hand at 1 unit in 90 days
        -- is exactly 6 months of cover.
        product_variants.units_on_hand * {{ var('sales_window_days') }}
        / nullif(variant_sales.units_sold_in_window * 30.0, 0) as months_of_cover
    from product_variants
    inner join variant_sales
        on
            product_variants.shop_domain = variant_sales.shop_domain
            and product_variants.variant_id = variant_sales.variant_id
),

recommended as (
    select
        *,
        case
            when units_sold_in_window <= 0 then 'discontinue'
            when months_of_cover > {{ var('discount_50_pct_above_months_of_cover') }} then 'discount_50_pct'
            when months_of_cover > {{ var('discount_25_pct_above_months_of_cover') }} then 'discount_25_pct'
            when inventory_velocity = 'fast' and months_of_cover < {{ var('reorder_below_months_of_cover') }}
                then 'reorder'
            else 'monitor'
        end as recommended_action
    from joined
),

slow_movers as (
    select
        *,
        recommended_action in ('discontinue', 'discount_50_pct', 'discount_25_pct')
        and coalesce(capital_tied_up, 0) > 0 as is_ranked_slow_mover
    from recommended
),

ranked as (
    select
        *,
        case recommended_action
            {%- for action, rate in var('cash_recovery_rate').items() %}
                when '{{ action }}' then capital_tied_up * {{ rate }}
            {%- endfor %}
        end as potential_cash_recovery,
        row_number() over (
            partition by shop_domain
            order by capital_tied_up desc nulls last, variant_id asc
        ) as capital_rank,
        case
            when is_ranked_slow_mover
                then row_number() over (
                    partition by shop_domain, is_ranked_slow_mover
                    order by capital_tied_up desc, variant_id asc
                )
        end as slow_mover_rank
    from slow_movers
),

final as (
    select
        shop_domain::text as shop_domain,
        variant_id::bigint as variant_id,
        product_id::bigint as product_id,
        product_title::text as product_title,
        variant_title::text as variant_title,
        sku::text as sku,
        category_l1::text as category_l1,
        units_on_hand::bigint as units_on_hand,
        unit_cost::numeric as unit_cost,
        capital_tied_up::numeric as capital_tied_up,
        units_sold_in_window::bigint as units_sold_in_window,
        margin_pct::numeric as margin_pct,
        inventory_velocity::text as inventory_velocity,
        recommended_action::text as recommended_action,
        capital_rank::integer as capital_rank,
        round(units_per_month, 2)::numeric as monthly_sales_avg,
        round(months_of_cover, 2)::numeric as months_of_cover,
        round(potential_cash_recovery, 2)::numeric as potential_cash_recovery,
        slow_mover_rank::integer as slow_mover_rank,
        coalesce(slow_mover_rank <= {{ var('daily_email_top_n') }}, false)::boolean as in_daily_email,
        {{ as_of_date() }}::date as as_of_date
    from ranked
)

select * from final
