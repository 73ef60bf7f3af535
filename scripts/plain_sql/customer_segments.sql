-- models/marts/customer_segments.sql as `dbt compile` renders it at the var defaults of dbt_project.yml;
-- scripts/plain_sql.py fills in the schemas and the as-of date (--import-compiled writes it).

-- One row per customer with at least one order that counts: order history, money, top
-- category, primary segment, lifecycle stage and RFM scores as of the as-of date. The rules and
-- their thresholds are vars (docs/vars.md), checked in the order written here.
with

history as (
    select * from {{ intermediate }}.int_shopify__customer_history
),

customers as (
    select * from {{ staging }}.stg_shopify__customers
),

joined as (
    select
        history.*,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.company,
        coalesce(customers.tags, array[]::text[]) as tags,
        coalesce(customers.accepts_marketing, false) as accepts_marketing
    from history
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
                or tags && array['wholesale', 'professional', 'b2b']::text[]
                or orders_last_365_days >= 12
                then 'professional_shop'
            when
                total_orders >= 3
                or net_revenue >= 1500
                then 'enthusiast_collector'
            when total_orders = 1 then 'first_time_builder'
            else 'general'
        end as primary_segment,
        case
        when days_since_first_order <= 30 then 'new'
        when days_since_last_order <= 90 then 'active'
        when days_since_last_order <= 180 then 'at_risk'
        else 'churned'
    end as lifecycle_stage,
        (1 + case when days_since_last_order <= 30 then 1 else 0 end + case when days_since_last_order <= 60 then 1 else 0 end + case when days_since_last_order <= 90 then 1 else 0 end + case when days_since_last_order <= 180 then 1 else 0 end) as recency_score,
        (1 + case when total_orders >= 2 then 1 else 0 end + case when total_orders >= 3 then 1 else 0 end + case when total_orders >= 5 then 1 else 0 end + case when total_orders >= 10 then 1 else 0 end) as frequency_score,
        (1 + case when net_revenue >= 250 then 1 else 0 end + case when net_revenue >= 500 then 1 else 0 end + case when net_revenue >= 1000 then 1 else 0 end + case when net_revenue >= 5000 then 1 else 0 end) as monetary_score
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
        {{ as_of_date }}::date as as_of_date
    from segmented
)

select * from final
