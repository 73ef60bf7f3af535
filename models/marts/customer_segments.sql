{{
    config(
        indexes=[
            {'columns': ['shop_domain', 'primary_segment', 'lifecycle_stage']},
            {'columns': ['shop_domain', 'net_revenue desc']},
        ],
    )
}}

-- One row per customer with at least one order that counts: order history, money, top
-- category, primary segment, lifecycle stage and RFM scores as of the as-of date. The rules and
-- their thresholds are vars (docs/vars.md), checked in the order written here.
with

history as (
    select * from {{ ref('int_shopify__customer_history') }}
),

top_category as (
    select * from {{ ref('int_shopify__customer_top_category') }}
),

customers as (
    select * from {{ ref('stg_shopify__customers') }}
),

joined as (
    select
        history.*,
        {{ as_of_date() }} - history.first_order_date as days_since_first_order,
        {{ as_of_date() }} - history.last_order_date as days_since_last_order,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.company,
        coalesce(top_category.top_category_l1, 'Other') as top_category_l1,
        coalesce(customers.tags, array[]::text[]) as tags,
        coalesce(customers.accepts_marketing, false) as accepts_marketing
    from history
    left join top_category
        on
            history.shop_domain = top_category.shop_domain
            and history.customer_id = top_category.customer_id
    left join customers
        on
            history.shop_domain = customers.shop_domain
            and history.customer_id = customers.customer_id
),

segmented as (
    select
        *,
        case
            when
                company is not null
                or tags && array['{{ var("professional_tags") | join("', '") }}']::text[]
                or orders_last_365_days >= {{ var('professional_min_orders_per_year') }}
                then 'professional_shop'
            when
                total_orders >= {{ var('enthusiast_min_orders') }}
                or net_revenue >= {{ var('enthusiast_min_net_revenue') }}
                then 'enthusiast_collector'
            when total_orders = 1 then 'first_time_builder'
            else 'general'
        end as primary_segment,
        {{ lifecycle_stage('days_since_first_order', 'days_since_last_order') }} as lifecycle_stage,
        {{ score_at_most('days_since_last_order', var('rfm_recency_days')) }} as recency_score,
        {{ score_at_least('total_orders', var('rfm_frequency_orders')) }} as frequency_score,
        {{ score_at_least('net_revenue', var('rfm_monetary_net_revenue')) }} as monetary_score
    from joined
),

final as (
    select
        shop_domain::text as shop_domain,
        customer_id::bigint as customer_id,
        email::text as email,
        first_name::text as first_name,
        last_name::text as last_name,
        company::text as company,
        accepts_marketing::boolean as accepts_marketing,
        first_order_date::date as first_order_date,
        last_order_date::date as last_order_date,
        total_orders::bigint as total_orders,
        orders_last_365_days::bigint as orders_last_365_days,
        gross_sales::numeric as gross_sales,
        discounts::numeric as discounts,
        refunds::numeric as refunds,
        net_revenue::numeric as net_revenue,
        days_since_first_order::integer as days_since_first_order,
        days_since_last_order::integer as days_since_last_order,
        top_category_l1::text as top_category_l1,
        primary_segment::text as primary_segment,
        lifecycle_stage::text as lifecycle_stage,
        recency_score::integer as recency_score,
        frequency_score::integer as frequency_score,
        monetary_score::integer as monetary_score,
        round(average_order_value, 2)::numeric as average_order_value,
        (recency_score::text || frequency_score::text || monetary_score::text)::text as rfm_score,
        {{ as_of_date() }}::date as as_of_date
    from segmented
)

select * from final
