{% macro hotdash_feed_loaded_at(topic) -%}
{#-
    When a feed was last heard from: the oldest of its shops' newest facts of `topic`, so a
    source is as fresh as its stalest shop (a shop that never sent the topic does not count).
    One index probe per shop (facts_shop_topic_created_at_idx), not a scan of the topic.
    dbt source freshness compares it with var freshness (models/staging/_app__sources.yml).
-#}
with recursive shops as (
    (
        select facts.shop_domain
        from {{ var('facts_schema') }}.facts as facts
        order by facts.shop_domain
        limit 1
    )

    union all

    select (
        select facts.shop_domain
        from {{ var('facts_schema') }}.facts as facts
        where facts.shop_domain > shops.shop_domain
        order by facts.shop_domain
        limit 1
    )
    from shops
    where shops.shop_domain is not null
)

select min(newest.created_at)
from shops
cross join lateral (
    select max(facts.created_at) as created_at
    from {{ var('facts_schema') }}.facts as facts
    where facts.shop_domain = shops.shop_domain and facts.topic = '{{ topic }}'
) as newest
where shops.shop_domain is not null
{%- endmacro %}

