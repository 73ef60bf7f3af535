{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['shop_domain', 'customer_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['shop_domain', 'customer_id'], 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
        ],
    )
}}

with

facts as (
    {{ facts_of_topic('shopify.customers') }}
),

parsed as (
    select
        id as fact_id,
        judge_batch,
        created_at as fact_created_at,
        shop_domain,
        {{ json_bigint('value', 'id') }} as customer_id,
        {{ json_string('value', 'email') }} as email,
        {{ json_string('value', 'first_name') }} as first_name,
        {{ json_string('value', 'last_name') }} as last_name,
        coalesce(
            {{ json_string('value', 'phone') }}, {{ json_string('value', 'default_address', 'phone') }}
        ) as phone,
        {{ json_string('value', 'default_address', 'company') }} as company,
        {{ json_string('value', 'default_address', 'address1') }} as address1,
        {{ json_string('value', 'default_address', 'city') }} as city,
        {{ json_string('value', 'default_address', 'province') }} as province,
        {{ json_string('value', 'default_address', 'country_code') }} as country_code,
        {{ json_string('value', 'default_address', 'zip') }} as zip,
        array(
            select distinct btrim(raw.tag)
            from unnest(string_to_array(lower(coalesce({{ json_text('value', 'tags') }}, '')), ',')) as raw (tag)
            where btrim(raw.tag) <> ''
            order by btrim(raw.tag)
        ) as tags,
        {{ json_string('value', 'email_marketing_consent', 'state') }} as marketing_consent_state,
        coalesce(
            {{ json_text('value', 'email_marketing_consent', 'state') }} = 'subscribed',
            {{ json_boolean('value', 'accepts_marketing') }},
            false
        ) as accepts_marketing,
        {{ json_string('value', 'state') }} as account_state,
        {{ json_timestamptz('value', 'created_at') }} as created_at,
        {{ json_timestamptz('value', 'updated_at') }} as updated_at
    from facts
),

final as (
    {{ latest_version('parsed', ['shop_domain', 'customer_id'], 'updated_at desc') }}
)

select * from final
