{{ staging_config(['shop_domain', 'customer_id']) }}

with

facts as (
    {{ latest_facts('shopify.customers', ['customer_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as customer_id,
        {{ safe_string('payload.email') }} as email,
        {{ safe_string('payload.first_name') }} as first_name,
        {{ safe_string('payload.last_name') }} as last_name,
        coalesce(
            {{ safe_string('payload.phone') }}, {{ json_string('payload.default_address', 'phone') }}
        ) as phone,
        {{ json_string('payload.default_address', 'company') }} as company,
        {{ json_string('payload.default_address', 'address1') }} as address1,
        {{ json_string('payload.default_address', 'city') }} as city,
        {{ json_string('payload.default_address', 'province') }} as province,
        {{ json_string('payload.default_address', 'country_code') }} as country_code,
        {{ json_string('payload.default_address', 'zip') }} as zip,
        array(
            select distinct btrim(raw.tag)
            from unnest(string_to_array(lower(coalesce(payload.tags, '')), ',')) as raw (tag)
            where btrim(raw.tag) <> ''
            order by btrim(raw.tag)
        ) as tags,
        {{ json_string('payload.email_marketing_consent', 'state') }} as marketing_consent_state,
        coalesce(
            {{ json_text('payload.email_marketing_consent', 'state') }} = 'subscribed',
            {{ safe_boolean('payload.accepts_marketing') }},
            false
        ) as accepts_marketing,
        {{ safe_string('payload.state') }} as account_state,
        {{ checked_timestamptz('payload.created_at') }} as created_at,
        {{ checked_timestamptz('payload.updated_at') }} as updated_at
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['email', 'text'], ['first_name', 'text'], ['last_name', 'text'],
        ['phone', 'text'], ['default_address', 'jsonb'], ['tags', 'text'], ['email_marketing_consent', 'jsonb'],
        ['accepts_marketing', 'text'], ['state', 'text'], ['created_at', 'text'], ['updated_at', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
