-- Weekly insight: how customers moved between lifecycle stages over the last 7 days, per shop,
-- as the builds recorded them (the snapshot customer_segments_history): each customer's stage
-- now (its open row) against its stage 7 days ago (the row that held then). 'none': the
-- customer was not in customer_segments 7 days ago (or no build had recorded it yet); a
-- customer gone from the mart since is left out.
with

history as (
    select * from {{ ref('customer_segments_history') }}
),

now_stage as (
    select
        shop_domain,
        customer_id,
        lifecycle_stage
    from history
    where dbt_valid_to is null
),

week_ago as (
    select
        shop_domain,
        customer_id,
        lifecycle_stage
    from history
    where
        dbt_valid_from <= now() - interval '7 days'
        and (dbt_valid_to is null or dbt_valid_to > now() - interval '7 days')
),

migrations as (
    select
        now_stage.shop_domain,
        now_stage.lifecycle_stage as to_stage,
        coalesce(week_ago.lifecycle_stage, 'none') as from_stage
    from now_stage
    left join week_ago
        on
            now_stage.shop_domain = week_ago.shop_domain
            and now_stage.customer_id = week_ago.customer_id
),

final as (
    select
        shop_domain,
        from_stage,
        to_stage,
        count(*) as customers
    from migrations
    group by shop_domain, from_stage, to_stage
)

select * from final
order by shop_domain asc, from_stage asc, to_stage asc
