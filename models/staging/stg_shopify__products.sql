{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'product_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'product_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.products') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'id') }} as product_id,
        {{ json_string('value', 'title') }} as title,
        {{ json_string('value', 'handle') }} as handle,
        {{ json_string('value', 'product_type') }} as product_type,
        {{ json_string('value', 'vendor') }} as vendor,
        {{ json_string('value', 'status') }} as status,
        {{ json_string('value', 'tags') }} as tags,
        {{ json_timestamptz('value', 'published_at') }} as published_at,
        {{ json_timestamptz('value', 'created_at') }} as created_at,
        {{ json_timestamptz('value', 'updated_at') }} as updated_at
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'product_id'], 'updated_at desc') }}
)

select * from final
