{#-
    Why a fact of a staged topic cannot be staged: one `case` expression per topic that yields the
    first failing rule as text, or null when the payload is good. Staging keeps the facts whose
    reason is null; ops.facts_quarantine keeps the others with their reason. Both call these
    macros, so a rule is written once.
-#}

{% macro staged_topics() -%}
    {{ return([
        'shopify.orders', 'shopify.refunds', 'shopify.customers', 'shopify.products',
        'shopify.inventory_items', 'shopify.inventory_levels',
    ]) }}
{%- endmacro %}

{#- A key that is absent or JSON null: "<key> is missing" (the contracts count these apart). -#}
{% macro _required(col, key) -%}
    when {{ json_text(col, key) }} is null then '{{ key }} is missing'
{%- endmacro %}

{#- Rules every payload shares: an object with an integer id. -#}
{% macro _object_with_id(col, id_key='id') -%}
    when jsonb_typeof({{ col }}) <> 'object' then 'payload is a JSON ' || jsonb_typeof({{ col }}) || ', not an object'
    {{ _required(col, id_key) }}
    when not {{ is_integer_text(json_text(col, id_key)) }} then '{{ id_key }} is not an integer'
{%- endmacro %}

{% macro _timestamp_rule(col, key, required=true) -%}
    {%- if required %}
    {{ _required(col, key) }}
    when not {{ is_timestamp_text(json_text(col, key)) }} then '{{ key }} is not a timestamp'
    {%- else %}
    when {{ json_text(col, key) }} is not null and not {{ is_timestamp_text(json_text(col, key)) }}
        then '{{ key }} is not a timestamp'
    {%- endif %}
{%- endmacro %}

{% macro _money_rule(col, key, required=true) -%}
    {%- if required %}
    {{ _required(col, key) }}
    {%- endif %}
    when {{ json_text(col, key) }} is not null and not {{ is_numeric_text(json_text(col, key)) }}
        then '{{ key }} is '
            || case when {{ is_decimal_text(json_text(col, key)) }} then 'out of range' else 'not a number' end
    when {{ safe_numeric(json_text(col, key)) }} < 0 then '{{ key }} is negative'
{%- endmacro %}

{% macro _array_rule(col, key) -%}
    when {{ json_text(col, key) }} is not null and {{ json_type(col, key) }} not in ('array', 'null')
        then '{{ key }} is not an array'
{%- endmacro %}

{% macro order_quarantine_reason(col='value') -%}
    case
        {{ _object_with_id(col) }}
        {{ _timestamp_rule(col, 'updated_at') }}
        {{ _timestamp_rule(col, 'created_at') }}
        {{ _timestamp_rule(col, 'cancelled_at', required=false) }}
        {{ _money_rule(col, 'total_price') }}
        {{ _money_rule(col, 'subtotal_price', required=false) }}
        {{ _money_rule(col, 'total_line_items_price', required=false) }}
        {{ _money_rule(col, 'total_discounts', required=false) }}
        {{ _money_rule(col, 'total_tax', required=false) }}
        when {{ json_text(col, 'currency') }} is null then 'currency is missing'
        when {{ json_text(col, 'currency') }} not in ('{{ var("known_currencies") | join("', '") }}')
            then 'currency ' || {{ json_text(col, 'currency') }} || ' is not in var known_currencies'
        when {{ json_text(col, 'customer', 'id') }} is not null
            and not {{ is_integer_text(json_text(col, 'customer', 'id')) }}
            then 'customer.id is not an integer'
        {{ _required(col, 'line_items') }}
        when {{ json_type(col, 'line_items') }} <> 'array' then 'line_items is not an array'
        when exists (
            select 1 from {{ json_array_elements(col, 'line_items') }} as li (item)
            where jsonb_typeof(li.item) <> 'object'
                or not {{ is_integer_text(json_text('li.item', 'id')) }}
                or not {{ is_integer_text(json_text('li.item', 'quantity')) }}
                or not {{ is_numeric_text(json_text('li.item', 'price')) }}
        ) then 'a line item has a missing or non-integer id or quantity, or a non-numeric price'
        when exists (
            select 1 from {{ json_array_elements(col, 'line_items') }} as li (item)
            where {{ safe_integer(json_text('li.item', 'quantity')) }} < 0
                or {{ safe_numeric(json_text('li.item', 'price')) }} < 0
        ) then 'a line item has a negative quantity or price'
    end
{%- endmacro %}

{% macro refund_quarantine_reason(col='value') -%}
    case
        {{ _object_with_id(col) }}
        {{ _required(col, 'order_id') }}
        when not {{ is_integer_text(json_text(col, 'order_id')) }} then 'order_id is not an integer'
        {{ _timestamp_rule(col, 'created_at') }}
        {{ _timestamp_rule(col, 'processed_at', required=false) }}
        {{ _array_rule(col, 'refund_line_items') }}
        {{ _array_rule(col, 'transactions') }}
        when exists (
            select 1 from {{ json_array_elements(col, 'refund_line_items') }} as rli (item)
            where jsonb_typeof(rli.item) <> 'object'
                or not {{ is_integer_text(json_text('rli.item', 'line_item_id')) }}
                or not {{ is_integer_text(json_text('rli.item', 'quantity')) }}
                or {{ safe_integer(json_text('rli.item', 'quantity')) }} < 0
                or ({{ json_text('rli.item', 'subtotal') }} is not null
                    and not {{ is_numeric_text(json_text('rli.item', 'subtotal')) }})
        ) then 'a refund line item has a missing line_item_id, a bad quantity or a non-numeric subtotal'
        when exists (
            select 1 from {{ json_array_elements(col, 'transactions') }} as t (item)
            where jsonb_typeof(t.item) <> 'object'
                or not {{ is_numeric_text(json_text('t.item', 'amount')) }}
                or {{ safe_numeric(json_text('t.item', 'amount')) }} < 0
        ) then 'a transaction has a missing, non-numeric or negative amount'
    end
{%- endmacro %}

{% macro customer_quarantine_reason(col='value') -%}
    case
        {{ _object_with_id(col) }}
        {{ _timestamp_rule(col, 'updated_at') }}
        {{ _timestamp_rule(col, 'created_at', required=false) }}
        when {{ json_text(col, 'default_address') }} is not null
            and {{ json_type(col, 'default_address') }} not in ('object', 'null')
            then 'default_address is not an object'
    end
{%- endmacro %}

{% macro product_quarantine_reason(col='value') -%}
    case
        {{ _object_with_id(col) }}
        {{ _timestamp_rule(col, 'updated_at') }}
        {{ _timestamp_rule(col, 'created_at', required=false) }}
        {{ _array_rule(col, 'variants') }}
        when exists (
            select 1 from {{ json_array_elements(col, 'variants') }} as v (item)
            where jsonb_typeof(v.item) <> 'object'
                or not {{ is_integer_text(json_text('v.item', 'id')) }}
                or ({{ json_text('v.item', 'price') }} is not null
                    and not {{ is_numeric_text(json_text('v.item', 'price')) }})
                or {{ safe_numeric(json_text('v.item', 'price')) }} < 0
                or ({{ json_text('v.item', 'inventory_item_id') }} is not null
                    and not {{ is_integer_text(json_text('v.item', 'inventory_item_id')) }})
        ) then 'a variant has a missing or non-integer id, a bad price or a bad inventory_item_id'
    end
{%- endmacro %}

{% macro inventory_item_quarantine_reason(col='value') -%}
    case
        {{ _object_with_id(col) }}
        {{ _timestamp_rule(col, 'updated_at') }}
        {{ _money_rule(col, 'cost', required=false) }}
    end
{%- endmacro %}

{% macro inventory_level_quarantine_reason(col='value') -%}
    case
        when jsonb_typeof({{ col }}) <> 'object' then 'payload is a JSON ' || jsonb_typeof({{ col }}) || ', not an object'
        {{ _required(col, 'inventory_item_id') }}
        when not {{ is_integer_text(json_text(col, 'inventory_item_id')) }} then 'inventory_item_id is not an integer'
        {{ _required(col, 'location_id') }}
        when not {{ is_integer_text(json_text(col, 'location_id')) }} then 'location_id is not an integer'
        {{ _timestamp_rule(col, 'updated_at') }}
        when {{ json_text(col, 'available') }} is not null
            and not {{ is_integer_text(json_text(col, 'available')) }} then 'available is not an integer'
        when {{ safe_integer(json_text(col, 'available')) }} < 0 then 'available is negative'
    end
{%- endmacro %}

{#- The reason for any fact, by topic; null for good facts and for topics that are not staged. -#}
{% macro quarantine_reason(topic_col='topic', col='value') -%}
    case {{ topic_col }}
        when 'shopify.orders' then {{ order_quarantine_reason(col) }}
        when 'shopify.refunds' then {{ refund_quarantine_reason(col) }}
        when 'shopify.customers' then {{ customer_quarantine_reason(col) }}
        when 'shopify.products' then {{ product_quarantine_reason(col) }}
        when 'shopify.inventory_items' then {{ inventory_item_quarantine_reason(col) }}
        when 'shopify.inventory_levels' then {{ inventory_level_quarantine_reason(col) }}
    end
{%- endmacro %}

{#-
    What is staged but suspicious: a text[] of warnings (null when there are none): a timestamp in
    the future, an unknown financial status or consent state. A warning does not quarantine the
    fact; the source contracts count them (contracts/source/*.yml, `flagged`).
    A timestamp is parsed only when its date is no earlier than yesterday's: the regex is the cost.
-#}
{% macro _future_warning(col, key) -%}
    case
        when {{ json_text(col, key) }} >= to_char(now() - interval '1 day', 'YYYY-MM-DD')
            and {{ safe_timestamptz(json_text(col, key)) }}
            > now() + interval '{{ var("clock_skew_tolerance") }}'
            then '{{ key }} is in the future'
    end
{%- endmacro %}

{% macro _warnings(items) -%}
    nullif(array_remove(array[
        {%- for item in items %}
        {{ item }}{{ ',' if not loop.last }}
        {%- endfor %}
    ]::text [], null), '{}')
{%- endmacro %}

{% macro triage_warnings(topic_col='topic', col='value') -%}
    case {{ topic_col }}
        when 'shopify.orders' then {{ _warnings([
            _future_warning(col, 'created_at'),
            _future_warning(col, 'updated_at'),
            "case when " ~ json_text(col, 'financial_status') ~ " not in ('"
                ~ var('known_financial_statuses') | join("', '") ~ "') then 'financial_status '"
                ~ " || " ~ json_text(col, 'financial_status') ~ " || ' is not known' end",
        ]) }}
        when 'shopify.refunds' then {{ _warnings([_future_warning(col, 'created_at')]) }}
        when 'shopify.customers' then {{ _warnings([
            _future_warning(col, 'updated_at'),
            "case when " ~ json_text(col, 'email_marketing_consent', 'state') ~ " not in ('"
                ~ var('known_consent_states') | join("', '") ~ "') then 'email_marketing_consent.state '"
                ~ " || " ~ json_text(col, 'email_marketing_consent', 'state') ~ " || ' is not known' end",
        ]) }}
        when 'shopify.products' then {{ _warnings([_future_warning(col, 'updated_at')]) }}
        when 'shopify.inventory_items' then {{ _warnings([_future_warning(col, 'updated_at')]) }}
        when 'shopify.inventory_levels' then {{ _warnings([_future_warning(col, 'updated_at')]) }}
    end
{%- endmacro %}
