-- The campaign list in the column names Klaviyo and Mailchimp imports recognise, one shop at a
-- time. Export with psql: \copy (<compiled query>) to 'targets.csv' with (format csv, header)
-- after dbt compile --select marketing_targets_export --vars '{export_shop_domain: <shop>}'.
with

targets as (
    select * from {{ ref('marketing_targets') }}
),

-- The import formats want these headers, spaces included.
-- noqa: disable=RF05
final as (
    select
        email as "Email",
        first_name as "First Name",
        last_name as "Last Name",
        campaign as "Campaign",
        content_theme as "Content Theme",
        primary_segment as "Segment",
        lifecycle_stage as "Lifecycle Stage",
        top_category_l1 as "Top Category"
    from targets
    where shop_domain = '{{ var("export_shop_domain", "") }}'
)

select * from final
order by "Campaign", "Email"
-- noqa: enable=RF05
