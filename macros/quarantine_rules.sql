{#-
    Why a fact of a staged topic cannot be staged: one `case` expression per topic that yields the
    first failing rule as text, or null when the payload is good. Staging keeps the facts whose
    reason is null; ops.facts_quarantine keeps the others with their reason. Both call these
    macros, so a rule is written once.
-#}

{#- The staged topics: var topics (dbt_project.yml), the one registry of them. -#}
{% macro staged_topics() -%}
    {{ return(var('topics').keys() | list) }}
{%- endmacro %}

{#- The payload field whose time orders the versions of one entity (the latest version is staged,
    the highest fact id breaks ties): when a refund or a support message was created, when
    anything else was updated.
    A required timestamp of every topic's rules. -#}
{% macro topic_version_field(topic) -%}
    {{ return(var('topics')[topic].version) }}
{%- endmacro %}

{#-
    The payload fields the rules read, for every staged topic: the judge reads those of a query's
    topics in one pass (json_record, judge_groups) as the relation `payload`, so a rule reads
    `payload.total_price`, not the payload again. Nested objects and arrays are jsonb.
-#}
{% macro judged_fields() -%}
    {{ return([
        ['id', 'text'], ['updated_at', 'text'], ['created_at', 'text'], ['cancelled_at', 'text'],
        ['processed_at', 'text'], ['total_price', 'text'], ['subtotal_price', 'text'],
        ['total_line_items_price', 'text'], ['total_discounts', 'text'], ['total_tax', 'text'],
        ['currency', 'text'], ['financial_status', 'text'], ['customer', 'jsonb'],
        ['line_items', 'jsonb'], ['order_id', 'text'], ['refund_line_items', 'jsonb'],
        ['transactions', 'jsonb'], ['default_address', 'jsonb'],
        ['email_marketing_consent', 'jsonb'], ['variants', 'jsonb'], ['cost', 'text'],
        ['inventory_item_id', 'text'], ['location_id', 'text'], ['available', 'text'],
        ['inbox_id', 'text'], ['status', 'text'], ['meta', 'jsonb'],
        ['first_reply_created_at', 'text'], ['waiting_since', 'text'],
        ['last_activity_at', 'text'], ['conversation', 'jsonb'], ['message_type', 'text'],
        ['private', 'text'], ['content_type', 'text'], ['content_attributes', 'jsonb'],
        ['site_url', 'text'], ['search_type', 'text'], ['aggregation_type', 'text'],
        ['dimensions', 'jsonb'], ['report_row', 'jsonb'], ['fetched_at', 'text'],
        ['property_id', 'text'], ['dimension_headers', 'jsonb'], ['metric_headers', 'jsonb'],
        ['ig_user_id', 'text'], ['media', 'jsonb'], ['media_id', 'jsonb'], ['insights', 'jsonb'],
    ]) }}
{%- endmacro %}

{#- The staged topics a judge's query covers: `topics`, or all when none. -#}
{% macro judged_topics(topics=none) -%}
    {{- return(staged_topics() if topics is none else topics) }}
{%- endmacro %}

{#-
    The fields of judged_fields each staged topic reads: found in the SQL of the topic's rule, its
    warnings, its entity, location and version, where each reads as `payload.<field>`. A field
    read there that judged_fields does not list stops the compile.
-#}
{% macro judged_fields_by_topic() -%}
    {%- set known = judged_fields() | map(attribute=0) | list %}
    {%- set by_topic = {} %}
    {%- for topic, spec in var('topics').items() %}
        {%- set parts = [
            context[spec.rule]('json_type', 'payload'),
            topic_warnings(topic, 'payload', 'clock'),
            'payload.' ~ topic_version_field(topic),
        ] %}
        {%- if spec.get('entity_macro') %}
            {%- do parts.append(context[spec.entity_macro]('payload')) %}
        {%- else %}
            {%- do parts.append('payload.' ~ spec.entity) %}
        {%- endif %}
        {%- if spec.get('location') %}
            {%- do parts.append('payload.' ~ spec.location) %}
        {%- endif %}
        {%- set read = modules.re.findall('payload[.]([a-z_0-9]+)', parts | join(' ')) | unique | list %}
        {%- for field in read if field not in known %}
            {{- exceptions.raise_compiler_error(
                "the judge's rules of " ~ topic ~ " read payload." ~ field
                ~ ", which judged_fields (macros/quarantine_rules.sql) does not list") }}
        {%- endfor %}
        {%- do by_topic.update({topic: read}) %}
    {%- endfor %}
    {{- return(by_topic) }}
{%- endmacro %}

{#-
    The judge's groups of topics, as [topics, fields]: one per staged topic, each read by a query
    of its own (facts_triage: a union) with only the fields of judged_fields its topic reads
    (judged_fields_by_topic). jsonb_to_record looks up every field it is given in every payload,
    found or not (about 0.1-0.3 us a field, on one core): one record of every field would search
    each order, half the facts, for the 35 fields only other topics have. A topic's query reads
    its facts through the index on (topic, id): a bitmap scan of the pages that hold them, not
    a scan of the whole table.
    The groups go in the topics' order (code point order, the C and C.UTF-8 collations'; under
    another collation only the index build's speed differs): the union then writes the verdicts
    sorted by topic, and the verdicts' (topic, judge_batch) index is built on rows already in its
    order.
-#}
{% macro judge_groups() -%}
    {%- set by_topic = judged_fields_by_topic() %}
    {%- set groups = [] %}
    {%- for topic, names in by_topic | dictsort(true) %}
        {%- set fields = [] %}
        {%- for field, type in judged_fields() if field in names %}
            {%- do fields.append([field, type]) %}
        {%- endfor %}
        {%- do groups.append([[topic], fields]) %}
    {%- endfor %}
    {{- return(groups) }}
{%- endmacro %}

{#- A key that is absent or JSON null: "<key> is missing" (the contracts count these apart). -#}
{% macro _required(rec, key) -%}
    when {{ rec }}.{{ key }} is null then '{{ key }} is missing'
{%- endmacro %}

{#- Rules every payload shares: an object with an integer id. -#}
{% macro _object_with_id(json_type, rec, id_key='id') -%}
    when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
    {{ _required(rec, id_key) }}
    when not {{ is_integer_text(rec ~ '.' ~ id_key) }} then '{{ id_key }} is not an integer'
{%- endmacro %}

{% macro _timestamp_rule(rec, key, required=true) -%}
    {%- set field = rec ~ '.' ~ key %}
    {%- if required %}
    {{ _required(rec, key) }}
    when not {{ judged_timestamp_text(field) }} then '{{ key }} is not a timestamp'
    {%- else %}
    when {{ field }} is not null and not {{ judged_timestamp_text(field) }}
        then '{{ key }} is not a timestamp'
    {%- endif %}
{%- endmacro %}

{#- A time of a `timestamps: unix_or_iso` topic (var topics): unix seconds or ISO 8601 text. -#}
{% macro _unix_or_iso_rule(rec, key, required=true) -%}
    {%- set field = rec ~ '.' ~ key %}
    {%- if required %}
    {{ _required(rec, key) }}
    when not {{ is_unix_or_iso_text(field) }} then '{{ key }} is not a timestamp'
    {%- else %}
    when {{ field }} is not null and not {{ is_unix_or_iso_text(field) }}
        then '{{ key }} is not a timestamp'
    {%- endif %}
{%- endmacro %}

{#- The cast in the second rule is safe: the CASE reaches it only for a number in range or null. -#}
{% macro _money_rule(rec, key, required=true) -%}
    {%- set field = rec ~ '.' ~ key %}
    {%- if required %}
    {{ _required(rec, key) }}
    {%- endif %}
    when {{ field }} is not null and not {{ is_numeric_text(field) }}
        then '{{ key }} is '
            || case when {{ is_decimal_text(field) }} then 'out of range' else 'not a number' end
    when {{ _negative(field, '(' ~ field ~ ')::numeric') }} then '{{ key }} is negative'
{%- endmacro %}

{#- Whether a number the rules before checked is negative, `value` its cast: only a text with a
    '-' can be, so only that text is cast (the cast costs more than the search). -#}
{% macro _negative(text, value) -%}
    (strpos({{ text }}, '-') > 0 and {{ value }} < 0)
{%- endmacro %}

{% macro _array_rule(rec, key) -%}
    when {{ rec }}.{{ key }} is not null and jsonb_typeof({{ rec }}.{{ key }}) <> 'array'
        then '{{ key }} is not an array'
{%- endmacro %}

{#-
    The verdict on one item of an array field: 1 when it has a bad shape, 2 (line items only)
    when its quantity or price is negative, else null. Each cast reads only what the CASE before
    it checked. judge_functions turns each into a function over the whole array (the worst
    verdict, 1 before 2; null when every item is good or there are none), created by the judge's
    pre-hook, which the rules call (judged) instead of a subquery: PostgreSQL runs a correlated
    subquery in the leader process only, a function in its parallel workers too.
-#}
{% macro _line_item_verdict(item) -%}
    case
        when jsonb_typeof({{ item }}) <> 'object'
            or not {{ is_integer_text("(" ~ item ~ " ->> 'id')") }}
            or not {{ is_integer_text("(" ~ item ~ " ->> 'quantity')") }}
            or not {{ is_numeric_text("(" ~ item ~ " ->> 'price')") }}
            then 1
        when {{ _negative(item ~ " ->> 'quantity'", checked_integer(item ~ " ->> 'quantity'")) }}
            or {{ _negative(item ~ " ->> 'price'", "(" ~ item ~ " ->> 'price')::numeric") }}
            then 2
    end
{%- endmacro %}

{% macro _refund_line_item_verdict(item) -%}
    case
        when jsonb_typeof({{ item }}) <> 'object'
            or not {{ is_integer_text("(" ~ item ~ " ->> 'line_item_id')") }}
            or not {{ is_integer_text("(" ~ item ~ " ->> 'quantity')") }}
            or (({{ item }} ->> 'subtotal') is not null
                and not {{ is_numeric_text("(" ~ item ~ " ->> 'subtotal')") }})
            then 1
        when {{ _negative(item ~ " ->> 'quantity'", checked_integer(item ~ " ->> 'quantity'")) }} then 1
    end
{%- endmacro %}

{% macro _variant_verdict(item) -%}
    case
        when jsonb_typeof({{ item }}) <> 'object'
            or not {{ is_integer_text("(" ~ item ~ " ->> 'id')") }}
            or (({{ item }} ->> 'price') is not null
                and not {{ is_numeric_text("(" ~ item ~ " ->> 'price')") }})
            or (({{ item }} ->> 'inventory_item_id') is not null
                and not {{ is_integer_text("(" ~ item ~ " ->> 'inventory_item_id')") }})
            then 1
        when {{ _negative(item ~ " ->> 'price'", "(" ~ item ~ " ->> 'price')::numeric") }} then 1
    end
{%- endmacro %}

{% macro _transaction_verdict(item) -%}
    case
        when jsonb_typeof({{ item }}) <> 'object'
            or not {{ is_numeric_text("(" ~ item ~ " ->> 'amount')") }}
            then 1
        when {{ _negative(item ~ " ->> 'amount'", "(" ~ item ~ " ->> 'amount')::numeric") }} then 1
    end
{%- endmacro %}

{#- An insights metric (an item of insights.data): 1 when it is a staged metric whose value is not
    a whole number from 0 (instagram_counted_metrics; other names are not read). -#}
{% macro _instagram_metric_verdict(item) -%}
    case
        when {{ item }} ->> 'name' in ('{{ instagram_counted_metrics() | join("', '") }}')
            and {{ _instagram_not_a_count("(" ~ item ~ " -> 'values' -> 0 ->> 'value')") }}
            then 1
    end
{%- endmacro %}

{#- A GA4 metric value (an item of report_row.metricValues): 1 when its value is not a number
    of at most 40 characters. -#}
{% macro _ga4_metric_value_verdict(item) -%}
    case when not {{ _is_metric_number("(" ~ item ~ " ->> 'value')") }} then 1 end
{%- endmacro %}

{%- macro judge_functions() -%}
    {%- for name, verdict in [
        ('judge_line_items', _line_item_verdict),
        ('judge_refund_line_items', _refund_line_item_verdict),
        ('judge_variants', _variant_verdict),
        ('judge_transactions', _transaction_verdict),
        ('judge_instagram_metrics', _instagram_metric_verdict),
        ('judge_ga4_metric_values', _ga4_metric_value_verdict),
    ] %}
create or replace function {{ this.schema }}.{{ name }}(items jsonb)
returns integer
language plpgsql immutable strict parallel safe
as $judge$
declare
    item jsonb;
    verdict integer;
    worst integer;
begin
    if jsonb_typeof(items) <> 'array' then
        return null;
    end if;
    for i in 0 .. jsonb_array_length(items) - 1 loop
        item := items -> i;
        verdict := {{ verdict('item') }};
        if verdict = 1 then
            return 1;
        end if;
        worst := coalesce(worst, verdict);
    end loop;
    return worst;
end
$judge$;
revoke all on function {{ this.schema }}.{{ name }}(jsonb) from public;
    {%- endfor %}
{#- A function of one expression, not strict, as volatile as what it calls (pg_input_is_valid is
    stable): PostgreSQL inlines it in the judge's query. #}
create or replace function {{ this.schema }}.is_timestamp_text(value text)
returns boolean
language sql stable parallel safe
return {{ is_shopify_timestamp_text('value') }};
revoke all on function {{ this.schema }}.is_timestamp_text(text) from public;
{%- endmacro %}

{#- is_timestamp_text of a text, as the judge's own function (judge_functions) checks it. -#}
{% macro judged_timestamp_text(expr) -%}
    {{ this.schema }}.is_timestamp_text({{ expr }})
{%- endmacro %}

{#- The verdict on the items of an array field (judge_functions), e.g. judged('judge_variants', 'payload.variants'). -#}
{% macro judged(function, items) -%}
    {{ this.schema }}.{{ function }}({{ items }})
{%- endmacro %}

{#-
    The rules of a payload, first failing rule first. `json_type` is the payload's JSON type
    (jsonb_typeof, computed once), `rec` its fields (judged_fields, read by json_record).
    The items of an array field are judged by a function (judged), each called at most once.
    A cast reads only what an earlier rule of the CASE checked (SQL does not order the operands
    of OR). A bad shape in any line item comes before a negative number in any.
-#}
{% macro order_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _timestamp_rule(rec, 'updated_at') }}
        {{ _timestamp_rule(rec, 'created_at') }}
        {{ _timestamp_rule(rec, 'cancelled_at', required=false) }}
        {{ _money_rule(rec, 'total_price') }}
        {{ _money_rule(rec, 'subtotal_price', required=false) }}
        {{ _money_rule(rec, 'total_line_items_price', required=false) }}
        {{ _money_rule(rec, 'total_discounts', required=false) }}
        {{ _money_rule(rec, 'total_tax', required=false) }}
        when {{ rec }}.currency is null then 'currency is missing'
        when {{ rec }}.currency not in ('{{ var("known_currencies") | join("', '") }}')
            then 'currency ' || {{ rec }}.currency || ' is not in var known_currencies'
        when ({{ rec }}.customer ->> 'id') is not null
            and not {{ is_integer_text("(" ~ rec ~ ".customer ->> 'id')") }}
            then 'customer.id is not an integer'
        {{ _required(rec, 'line_items') }}
        when jsonb_typeof({{ rec }}.line_items) <> 'array' then 'line_items is not an array'
        else case {{ judged('judge_line_items', rec ~ '.line_items') }}
            when 1 then 'a line item has a missing or non-integer id or quantity, or a non-numeric price'
            when 2 then 'a line item has a negative quantity or price'
        end
    end
{%- endmacro %}

{% macro refund_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _required(rec, 'order_id') }}
        when not {{ is_integer_text(rec ~ '.order_id') }} then 'order_id is not an integer'
        {{ _timestamp_rule(rec, 'created_at') }}
        {{ _timestamp_rule(rec, 'processed_at', required=false) }}
        {{ _array_rule(rec, 'refund_line_items') }}
        {{ _array_rule(rec, 'transactions') }}
        when {{ judged('judge_refund_line_items', rec ~ '.refund_line_items') }} = 1
            then 'a refund line item has a missing line_item_id, a bad quantity or a non-numeric subtotal'
        when {{ judged('judge_transactions', rec ~ '.transactions') }} = 1
            then 'a transaction has a missing, non-numeric or negative amount'
    end
{%- endmacro %}

{% macro customer_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _timestamp_rule(rec, 'updated_at') }}
        {{ _timestamp_rule(rec, 'created_at', required=false) }}
        when {{ rec }}.default_address is not null
            and jsonb_typeof({{ rec }}.default_address) <> 'object'
            then 'default_address is not an object'
    end
{%- endmacro %}

{% macro product_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _timestamp_rule(rec, 'updated_at') }}
        {{ _timestamp_rule(rec, 'created_at', required=false) }}
        {{ _array_rule(rec, 'variants') }}
        when {{ judged('judge_variants', rec ~ '.variants') }} = 1
            then 'a variant has a missing or non-integer id, a bad price or a bad inventory_item_id'
    end
{%- endmacro %}

{% macro inventory_item_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _timestamp_rule(rec, 'updated_at') }}
        {{ _money_rule(rec, 'cost', required=false) }}
    end
{%- endmacro %}

{% macro inventory_level_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
        {{ _required(rec, 'inventory_item_id') }}
        when not {{ is_integer_text(rec ~ '.inventory_item_id') }} then 'inventory_item_id is not an integer'
        {{ _required(rec, 'location_id') }}
        when not {{ is_integer_text(rec ~ '.location_id') }} then 'location_id is not an integer'
        {{ _timestamp_rule(rec, 'updated_at') }}
        when {{ rec }}.available is not null
            and not {{ is_integer_text(rec ~ '.available') }} then 'available is not an integer'
        when {{ _negative(rec ~ '.available', checked_integer(rec ~ '.available')) }} then 'available is negative'
    end
{%- endmacro %}

{#-
    Chatwoot (the support inbox), README "The facts source". A conversation_created,
    conversation_status_changed or conversation_updated body: the conversation's attributes,
    its id the number Chatwoot shows (display_id), its own times in unix seconds (updated_at
    with a fraction), first_reply_created_at in ISO 8601. An unknown status is staged and
    flagged (triage_warnings), a missing one quarantined: every open/resolved count reads it.
-#}
{% macro chatwoot_conversation_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    {%- set assignee_id = "(" ~ rec ~ ".meta #>> '{assignee,id}')" %}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _unix_or_iso_rule(rec, 'updated_at') }}
        {{ _unix_or_iso_rule(rec, 'created_at') }}
        when {{ rec }}.inbox_id is not null and not {{ is_integer_text(rec ~ '.inbox_id') }}
            then 'inbox_id is not an integer'
        {{ _required(rec, 'status') }}
        when {{ rec }}.meta is not null and jsonb_typeof({{ rec }}.meta) not in ('object', 'null')
            then 'meta is not an object'
        when {{ assignee_id }} is not null and not {{ is_integer_text(assignee_id) }}
            then 'meta.assignee.id is not an integer'
        {{ _unix_or_iso_rule(rec, 'first_reply_created_at', required=false) }}
        {{ _unix_or_iso_rule(rec, 'waiting_since', required=false) }}
        {{ _unix_or_iso_rule(rec, 'last_activity_at', required=false) }}
    end
{%- endmacro %}

{#- The conversation a Chatwoot message belongs to: its `conversation` object's id (upstream
    Chatwoot writes the display_id there), or its display_id when it has no id (as in Chatwoot's
    documentation sample). -#}
{% macro chatwoot_message_conversation_id(rec='payload') -%}
    coalesce({{ rec }}.conversation ->> 'id', {{ rec }}.conversation ->> 'display_id')
{%- endmacro %}

{#- The CSAT rating a Chatwoot message carries: content_attributes.submitted_values
    .csat_survey_response.rating of a message of content_type input_csat (the survey, answered;
    Chatwoot sends it as message_updated), else null. -#}
{% macro chatwoot_csat_rating_text(rec='payload') -%}
    case when {{ rec }}.content_type = 'input_csat'
        then {{ rec }}.content_attributes #>> '{submitted_values,csat_survey_response,rating}'
    end
{%- endmacro %}

{#-
    A message_created or message_updated body: the message's attributes (created_at in ISO 8601,
    message_type as text), with its conversation and sender as objects. An unknown message_type
    is staged and flagged; a CSAT rating that is not an integer from 1 to 5 is quarantined (the
    CSAT average reads it).
-#}
{% macro chatwoot_message_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    {%- set conversation_id = chatwoot_message_conversation_id(rec) %}
    {%- set rating = "(" ~ chatwoot_csat_rating_text(rec) ~ ")" %}
    case
        {{ _object_with_id(json_type, rec) }}
        {{ _unix_or_iso_rule(rec, 'created_at') }}
        {{ _required(rec, 'conversation') }}
        when jsonb_typeof({{ rec }}.conversation) <> 'object' then 'conversation is not an object'
        when {{ conversation_id }} is null then 'conversation.id is missing'
        when not {{ is_integer_text(conversation_id) }} then 'conversation.id is not an integer'
        {{ _required(rec, 'message_type') }}
        when {{ rec }}.private is not null and lower({{ rec }}.private) not in ('true', 'false')
            then 'private is not a boolean'
        when {{ rating }} is not null
            and (
                not {{ is_integer_text(rating) }}
                or coalesce({{ checked_integer(rating) }} not between 1 and 5, true)
            )
            then 'the CSAT rating is not an integer from 1 to 5'
    end
{%- endmacro %}

{#-
    Search Console (Search Analytics), README "The facts source": one fact per row of a
    searchAnalytics.query response, the API's row unchanged (report_row: keys, clicks,
    impressions, ctr, position) with what gives it meaning: site_url, the request's dimensions
    (report_row.keys are their values, in that order), search_type, the response's
    aggregation_type and the app's fetched_at, which orders a row's fetches.
-#}

{#- The value of one dimension of a row (date, hour, page, query, device, country,
    searchAppearance): the key at the dimension's position in the request's dimensions (matched
    without case: the API writes HOUR as sent); null when the request did not group by it. -#}
{% macro search_console_key(rec, dimension) -%}
    ({{ rec }}.report_row -> 'keys' ->> (
        case
            {%- for i in range(search_console_max_dimensions()) %}
            when lower({{ rec }}.dimensions ->> {{ i }}) = lower('{{ dimension }}') then {{ i }}
            {%- endfor %}
        end
    ))
{%- endmacro %}

{#- How many dimensions a request can group by (date, hour, query, page, country, device,
    searchAppearance, each once), and more: search_console_key looks at that many positions, a
    CASE rather than a subquery, which PostgreSQL would run in the judge's leader process only. -#}
{% macro search_console_max_dimensions() -%}
    {{ return(10) }}
{%- endmacro %}

{#- The day of a row: its date key, else the day of its hour key as the key writes it (Search
    Console's days and hours are Pacific time; the key carries the offset). -#}
{% macro search_console_date_text(rec) -%}
    coalesce({{ search_console_key(rec, 'date') }}, left({{ search_console_key(rec, 'hour') }}, 10))
{%- endmacro %}

{#- A row's key, which the API does not give: a bigint from the md5 of its site, search type,
    aggregation and dimension values as a JSON array (nulls and separators cannot collide). 64
    bits: a collision among a shop's rows is of the order of n^2 / 2^65, negligible. -#}
{% macro search_console_row_key(rec='payload') -%}
    ('x' || left(md5(jsonb_build_array(
        {{ rec }}.site_url, coalesce({{ rec }}.search_type, 'web'), {{ rec }}.aggregation_type,
        {{ search_console_date_text(rec) }}, {{ search_console_key(rec, 'hour') }},
        {{ search_console_key(rec, 'page') }}, {{ search_console_key(rec, 'query') }},
        {{ search_console_key(rec, 'device') }}, {{ search_console_key(rec, 'country') }},
        {{ search_console_key(rec, 'searchAppearance') }}
    )::text), 16))::bit(64)::bigint
{%- endmacro %}

{#- A metric of a row: a JSON number (the API's doubles, kept as written: jsonb keeps every
    digit), at most 40 characters. -#}
{% macro _search_console_metric(rec, key) -%}
    ({{ rec }}.report_row ->> '{{ key }}')
{%- endmacro %}

{% macro _is_metric_number(expr) -%}
    ({{ is_decimal_text(expr) }} and octet_length({{ expr }}) <= 40)
{%- endmacro %}

{% macro _safe_metric(expr) -%}
    case when {{ _is_metric_number(expr) }} then ({{ expr }})::numeric end
{%- endmacro %}

{#- clicks, impressions: a count, a whole number (12 or 12.0), not negative. -#}
{% macro _search_console_count_rule(rec, key) -%}
    {%- set value = _search_console_metric(rec, key) %}
    when {{ value }} is null then 'report_row.{{ key }} is missing'
    when not {{ is_integer_text(value) }} then 'report_row.{{ key }} is not a whole number'
    when {{ checked_bigint(value) }} < 0 then 'report_row.{{ key }} is negative'
{%- endmacro %}

{% macro search_console_row_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    {%- set date_text = search_console_date_text(rec) %}
    {%- set hour_text = search_console_key(rec, 'hour') %}
    {%- set ctr = _search_console_metric(rec, 'ctr') %}
    {%- set position = _search_console_metric(rec, 'position') %}
    case
        when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
        {{ _required(rec, 'site_url') }}
        {{ _timestamp_rule(rec, 'fetched_at') }}
        {{ _required(rec, 'dimensions') }}
        when jsonb_typeof({{ rec }}.dimensions) <> 'array' then 'dimensions is not an array'
        {{ _required(rec, 'report_row') }}
        when jsonb_typeof({{ rec }}.report_row) <> 'object' then 'report_row is not an object'
        -- Two WHENs: CASE orders them (an OR need not), and the length of a non-array raises.
        when coalesce(jsonb_typeof({{ rec }}.report_row -> 'keys'), '') <> 'array'
            then 'report_row.keys do not match the dimensions'
        when jsonb_array_length({{ rec }}.report_row -> 'keys') <> jsonb_array_length({{ rec }}.dimensions)
            then 'report_row.keys do not match the dimensions'
        when {{ date_text }} is null then 'the date is missing'
        when not ({{ date_text }} ~ '^\d{4}-\d\d-\d\d$' and {{ is_timestamp_text(date_text) }})
            then 'the date is not a date'
        when {{ hour_text }} is not null and not {{ is_timestamp_text(hour_text) }}
            then 'the hour is not a timestamp'
        {{ _search_console_count_rule(rec, 'clicks') }}
        {{ _search_console_count_rule(rec, 'impressions') }}
        when {{ ctr }} is not null and not {{ _is_metric_number(ctr) }}
            then 'report_row.ctr is not a number'
        when {{ position }} is not null and not {{ _is_metric_number(position) }}
            then 'report_row.position is not a number'
        when ({{ position }})::numeric < 1 then 'report_row.position is below 1'
    end
{%- endmacro %}

{#-
    GA4 (Google Analytics Data API, runReport), README "The facts source": one fact per row of
    a landing pages report, the API's row unchanged (report_row: dimensionValues, metricValues,
    every value a string) with the report's dimension_headers and metric_headers (the values are
    positional: value i belongs to header i), property_id, currency_code and time_zone (the
    response's metadata) and the app's fetched_at.
-#}

{#- A dimension's value by name (date, landingPage, landingPagePlusQueryString,
    sessionDefaultChannelGroup, sessionSourceMedium, ...); null when the report has none. -#}
{% macro ga4_value(rec, headers, values, name) -%}
    ({{ rec }}.report_row -> '{{ values }}' -> (
        case
            {%- for i in range(ga4_max_headers()) %}
            when {{ rec }}.{{ headers }} -> {{ i }} ->> 'name' = '{{ name }}' then {{ i }}
            {%- endfor %}
        end
    ) ->> 'value')
{%- endmacro %}

{#- How many dimension or metric headers a report can have (runReport takes at most 9
    dimensions and 10 metrics): ga4_value and ga4_row_key look at that many positions, CASEs
    rather than subqueries, which PostgreSQL would run in the judge's leader process only. -#}
{% macro ga4_max_headers() -%}
    {{ return(10) }}
{%- endmacro %}

{% macro ga4_dimension(rec, name) -%}
    {{ ga4_value(rec, 'dimension_headers', 'dimensionValues', name) }}
{%- endmacro %}

{% macro ga4_metric(rec, name) -%}
    {{ ga4_value(rec, 'metric_headers', 'metricValues', name) }}
{%- endmacro %}

{#- The row's date as ISO text: GA4 writes YYYYMMDD (the property's time zone). -#}
{% macro ga4_date_text(rec) -%}
    (
        substr({{ ga4_dimension(rec, 'date') }}, 1, 4) || '-'
        || substr({{ ga4_dimension(rec, 'date') }}, 5, 2) || '-'
        || substr({{ ga4_dimension(rec, 'date') }}, 7, 2)
    )
{%- endmacro %}

{#- A row's key: a bigint from the md5 of the property and every dimension's name and value (a
    jsonb object: its text is the same whatever the order of the headers). -#}
{% macro ga4_row_key(rec='payload') -%}
    ('x' || left(md5(jsonb_build_array({{ rec }}.property_id, nullif(
        {%- for i in range(ga4_max_headers()) %}
        {%- set name = rec ~ ".dimension_headers -> " ~ i ~ " ->> 'name'" %}
        case when {{ name }} is not null then jsonb_build_object(
            {{ name }}, {{ rec }}.report_row -> 'dimensionValues' -> {{ i }} ->> 'value'
        ) else '{}'::jsonb end {{ '||' if not loop.last }}
        {%- endfor %},
        '{}'::jsonb
    ))::text), 16))::bit(64)::bigint
{%- endmacro %}

{% macro ga4_row_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    {%- set raw_date = ga4_dimension(rec, 'date') %}
    {%- set date_text = ga4_date_text(rec) %}
    {%- set sessions = ga4_metric(rec, 'sessions') %}
    case
        when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
        {{ _required(rec, 'property_id') }}
        when not {{ is_integer_text(rec ~ '.property_id') }} then 'property_id is not an integer'
        {{ _timestamp_rule(rec, 'fetched_at') }}
        when coalesce(jsonb_typeof({{ rec }}.dimension_headers), '') <> 'array'
            then 'dimension_headers is not an array'
        when coalesce(jsonb_typeof({{ rec }}.metric_headers), '') <> 'array'
            then 'metric_headers is not an array'
        when coalesce(jsonb_typeof({{ rec }}.report_row), '') <> 'object' then 'report_row is not an object'
        when coalesce(jsonb_typeof({{ rec }}.report_row -> 'dimensionValues'), '') <> 'array'
            then 'dimensionValues do not match dimension_headers'
        when jsonb_array_length({{ rec }}.report_row -> 'dimensionValues') <> jsonb_array_length({{ rec }}.dimension_headers)
            then 'dimensionValues do not match dimension_headers'
        when coalesce(jsonb_typeof({{ rec }}.report_row -> 'metricValues'), '') <> 'array'
            then 'metricValues do not match metric_headers'
        when jsonb_array_length({{ rec }}.report_row -> 'metricValues') <> jsonb_array_length({{ rec }}.metric_headers)
            then 'metricValues do not match metric_headers'
        when {{ raw_date }} is null then 'the date is missing'
        when not ({{ raw_date }} ~ '^\d{8}$' and {{ is_timestamp_text(date_text) }})
            then 'the date is not a date'
        when {{ judged('judge_ga4_metric_values', rec ~ ".report_row -> 'metricValues'") }} is not null
            then 'a metric value is not a number'
        when ({{ sessions }})::numeric < 0 then 'sessions is negative'
        when ({{ sessions }})::numeric <> trunc(({{ sessions }})::numeric) then 'sessions is not a whole number'
    end
{%- endmacro %}

{#-
    Instagram (Graph API), README "The facts source": one fact per media object of
    GET /{ig-user-id}/media ({"ig_user_id", "fetched_at", "media": {the object unchanged}}) and
    one per GET /{ig-media-id}/insights response ({"media_id", "fetched_at", "insights":
    {"data": [...]}}). Instagram's ids are strings of digits that may start with 0: never
    numbers, so they are judged and staged as text.
-#}

{#- The metrics of a media's insights that are staged, each a count (name -> values[0].value). -#}
{% macro instagram_counted_metrics() -%}
    {{ return([
        'reach', 'views', 'impressions', 'video_views', 'plays', 'likes', 'comments', 'saved',
        'shares', 'total_interactions', 'follows', 'profile_visits',
    ]) }}
{%- endmacro %}

{#- The staged metrics of an insights response, one row of one column each: a metric is its
    lifetime values[0].value, null when the response lacks it (the API leaves out what it does
    not have); names not staged are ignored, a name given twice counts its highest. The judge
    checked every staged metric's value. -#}
{% macro instagram_lifetime_metrics(insights) -%}
    {%- set value = "(metric.item -> 'values' -> 0 ->> 'value')" %}
    (
        select
            {%- for name in instagram_counted_metrics() %}
            max({{ checked_bigint(value) }}) filter (where metric.item ->> 'name' = '{{ name }}') as {{ name }}
            {{- ',' if not loop.last }}
            {%- endfor %}
        from jsonb_array_elements({{ insights }} -> 'data') as metric (item)
        where metric.item ->> 'period' = 'lifetime'
    )
{%- endmacro %}

{#- A media's key: the judge's entity_id is a bigint, a media id is text ("0761..." and "761..."
    are two media), so the key is a bigint from the md5 of the id's text; a collision among a
    shop's media is of the order of n^2 / 2^65, negligible. -#}
{% macro _instagram_id_key(id_text) -%}
    ('x' || left(md5({{ id_text }}), 16))::bit(64)::bigint
{%- endmacro %}

{% macro instagram_media_key(rec='payload') -%}
    {{ _instagram_id_key("(" ~ rec ~ ".media ->> 'id')") }}
{%- endmacro %}

{% macro instagram_insights_media_key(rec='payload') -%}
    {{ _instagram_id_key("(" ~ rec ~ ".media_id #>> '{}')") }}
{%- endmacro %}

{#- An id as Instagram writes it: a JSON string of digits. -#}
{% macro _instagram_id_rule(json_value, label) -%}
    when {{ json_value }} is null or jsonb_typeof({{ json_value }}) = 'null' then '{{ label }} is missing'
    when jsonb_typeof({{ json_value }}) <> 'string' or not ({{ json_value }} #>> '{}') ~ '^[0-9]{1,40}$'
        then '{{ label }} is not a string of digits'
{%- endmacro %}

{#- A count of a media (like_count, comments_count): absent, or a whole number not below 0. -#}
{% macro _instagram_count_rule(rec, key) -%}
    {%- set value = "(" ~ rec ~ ".media ->> '" ~ key ~ "')" %}
    when {{ value }} is not null and not {{ is_integer_text(value) }}
        then 'media.{{ key }} is not a count'
    when {{ checked_bigint(value) }} < 0 then 'media.{{ key }} is not a count'
{%- endmacro %}

{% macro instagram_media_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    {%- set posted = "(" ~ rec ~ ".media ->> 'timestamp')" %}
    case
        when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
        {{ _timestamp_rule(rec, 'fetched_at') }}
        {{ _required(rec, 'media') }}
        when jsonb_typeof({{ rec }}.media) <> 'object' then 'media is not an object'
        {{ _instagram_id_rule("(" ~ rec ~ ".media -> 'id')", 'media.id') }}
        when coalesce({{ rec }}.media #>> '{owner,id}', {{ rec }}.ig_user_id) is null
            then 'ig_user_id is missing'
        when {{ posted }} is null then 'media.timestamp is missing'
        when not {{ is_timestamp_text(posted) }} then 'media.timestamp is not a timestamp'
        {{ _instagram_count_rule(rec, 'like_count') }}
        {{ _instagram_count_rule(rec, 'comments_count') }}
    end
{%- endmacro %}

{#- The value of a counted metric that is not a whole number from 0 (a CASE: the cast reads only
    what the test before it passed). -#}
{% macro _instagram_not_a_count(value) -%}
    case when {{ is_integer_text(value) }} then {{ checked_bigint(value) }} < 0 else true end
{%- endmacro %}

{% macro instagram_media_insights_quarantine_reason(json_type='jsonb_typeof(value)', rec='payload') -%}
    case
        when {{ json_type }} <> 'object' then 'payload is a JSON ' || {{ json_type }} || ', not an object'
        {{ _instagram_id_rule(rec ~ '.media_id', 'media_id') }}
        {{ _timestamp_rule(rec, 'fetched_at') }}
        when coalesce(jsonb_typeof({{ rec }}.insights), '') <> 'object' then 'insights is not an object'
        when coalesce(jsonb_typeof({{ rec }}.insights -> 'data'), '') <> 'array'
            then 'insights.data is not an array'
        when {{ judged('judge_instagram_metrics', rec ~ ".insights -> 'data'") }} is not null
            then 'a metric value is not a count'
    end
{%- endmacro %}

{#- The reason for any fact, by topic (each topic's rule macro, var topics); null for good facts
    and for topics that are not staged. First, a fact without a shop belongs to nobody: the facts
    contracts stop a build that finds one before the judge runs, and one committed after their
    snapshot, before the judge's, is quarantined here rather than staged. -#}
{% macro quarantine_reason(topic_col='topic', json_type='jsonb_typeof(value)', rec='payload', shop_col='shop_domain', topics=none) -%}
    case
        when {{ shop_col }} is null or btrim({{ shop_col }}) = '' then 'shop_domain is blank'
        else case {{ topic_col }}
            {%- for topic, spec in var('topics').items() if topic in judged_topics(topics) %}
            when '{{ topic }}' then {{ context[spec.rule](json_type, rec) }}
            {%- endfor %}
        end
    end
{%- endmacro %}

{#-
    What is staged but suspicious: a text[] of warnings (null when there are none): a timestamp in
    the future, an unknown financial status or consent state. A warning does not quarantine the
    fact; the source contracts count them (contracts/source/*.yml, `flagged`).
    `clock` is a relation with the judge's time, read once: `yesterday` (its date, as text) and
    `future` (now plus var clock_skew_tolerance). A timestamp is parsed only when its date is no
    earlier than yesterday's: the regex is the cost.
-#}
{% macro triage_clock() -%}
    select
        to_char(now() - interval '1 day', 'YYYY-MM-DD') as yesterday,
        now() + interval '{{ var("clock_skew_tolerance") }}' as future
{%- endmacro %}

{% macro _future_warning(rec, key, clock) -%}
    case
        when {{ rec }}.{{ key }} >= {{ clock }}.yesterday
            and {{ safe_timestamptz(rec ~ '.' ~ key, judged_timestamp_text) }} > {{ clock }}.future
            then '{{ key }} is in the future'
    end
{%- endmacro %}

{#- The same of a time of a `timestamps: unix_or_iso` topic. -#}
{% macro _future_time_warning(rec, key, clock) -%}
    case
        when {{ safe_unix_or_iso(rec ~ '.' ~ key) }} > {{ clock }}.future
            then '{{ key }} is in the future'
    end
{%- endmacro %}

{#- A Search Console row staged but odd: more clicks than impressions, a ctr outside 0 to 1 or
    not clicks / impressions (to 4 decimals), a day after the judge's. -#}
{% macro _search_console_warnings(rec, clock) -%}
    {%- set clicks = "(" ~ rec ~ ".report_row ->> 'clicks')" %}
    {%- set impressions = "(" ~ rec ~ ".report_row ->> 'impressions')" %}
    {%- set ctr = "(" ~ rec ~ ".report_row ->> 'ctr')" %}
    case
        when {{ safe_bigint(clicks) }} > {{ safe_bigint(impressions) }}
            then 'clicks exceed impressions'
        when {{ _safe_metric(ctr) }} not between 0 and 1 then 'ctr is not between 0 and 1'
        when {{ safe_bigint(impressions) }} > 0
            and abs({{ _safe_metric(ctr) }} - {{ safe_bigint(clicks) }}::numeric / {{ safe_bigint(impressions) }}) > 0.0001
            then 'ctr is not clicks / impressions'
        when {{ search_console_date_text(rec) }} > to_char({{ clock }}.future, 'YYYY-MM-DD')
            then 'the date is in the future'
    end
{%- endmacro %}

{% macro _unknown_warning(expr, label, known) -%}
    case when {{ expr }} not in ('{{ known | join("', '") }}')
        then '{{ label }} ' || {{ expr }} || ' is not known' end
{%- endmacro %}

{% macro _warnings(items) -%}
    nullif(array_remove(array[
        {%- for item in items %}
        {{ item }}{{ ',' if not loop.last }}
        {%- endfor %}
    ]::text [], null), '{}')
{%- endmacro %}

{#- The warnings of one staged topic's payload (a text[], null when there are none); nothing for
    a topic that has none. -#}
{% macro topic_warnings(topic, rec='payload', clock='clock') -%}
    {%- if topic == 'shopify.orders' %}{{ _warnings([
            _future_warning(rec, 'created_at', clock),
            _future_warning(rec, 'updated_at', clock),
            _unknown_warning(rec ~ '.financial_status', 'financial_status', var('known_financial_statuses')),
        ]) }}
    {%- elif topic == 'shopify.refunds' %}{{ _warnings([_future_warning(rec, 'created_at', clock)]) }}
    {%- elif topic == 'shopify.customers' %}{{ _warnings([
            _future_warning(rec, 'updated_at', clock),
            _unknown_warning("(" ~ rec ~ ".email_marketing_consent ->> 'state')",
                'email_marketing_consent.state', var('known_consent_states')),
        ]) }}
    {%- elif topic in ('shopify.products', 'shopify.inventory_items', 'shopify.inventory_levels') %}
        {{- _warnings([_future_warning(rec, 'updated_at', clock)]) }}
    {%- elif topic == 'chatwoot.conversations' %}{{ _warnings([
            _future_time_warning(rec, 'updated_at', clock),
            _unknown_warning(rec ~ '.status', 'status', var('known_conversation_statuses')),
        ]) }}
    {%- elif topic == 'chatwoot.messages' %}{{ _warnings([
            _future_time_warning(rec, 'created_at', clock),
            _unknown_warning(rec ~ '.message_type', 'message_type', var('known_message_types')),
        ]) }}
    {%- elif topic == 'search_console.search_analytics' %}{{ _warnings([
            _future_warning(rec, 'fetched_at', clock),
            _search_console_warnings(rec, clock),
        ]) }}
    {%- elif topic == 'ga4.landing_pages' %}{{ _warnings([
            _future_warning(rec, 'fetched_at', clock),
            "case when " ~ ga4_date_text(rec) ~ " > to_char(" ~ clock ~ ".future, 'YYYY-MM-DD')"
                ~ " then 'the date is in the future' end",
        ]) }}
    {%- elif topic == 'instagram.media' %}{{ _warnings([
            _future_warning(rec, 'fetched_at', clock),
            "case when " ~ safe_timestamptz("(" ~ rec ~ ".media ->> 'timestamp')") ~ " > "
                ~ clock ~ ".future then 'media.timestamp is in the future' end",
            _unknown_warning("(" ~ rec ~ ".media ->> 'media_type')", 'media_type',
                var('known_instagram_media_types')),
            _unknown_warning("(" ~ rec ~ ".media ->> 'media_product_type')", 'media_product_type',
                var('known_instagram_media_product_types')),
        ]) }}
    {%- elif topic == 'instagram.media_insights' %}{{ _warnings([_future_warning(rec, 'fetched_at', clock)]) }}
    {%- endif %}
{%- endmacro %}

{% macro triage_warnings(topic_col='topic', rec='payload', clock='clock', topics=none) -%}
    case {{ topic_col }}
        {%- for topic in judged_topics(topics) %}
        {%- set warnings = topic_warnings(topic, rec, clock) | trim %}
        {%- if warnings %}
        when '{{ topic }}' then {{ warnings }}
        {%- endif %}
        {%- endfor %}
    end
{%- endmacro %}
