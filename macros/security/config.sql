{#-
    The security model in one place: role names, which schemas each reader may read, the policy
    names and the session setting that picks a shop. runner/grants.py verifies against the same
    names (keep them in step). PII column names are the dbt var `pii_columns`.
-#}

{% macro hotdash_security_config() -%}
    {{ return({
        'roles': {
            'loader': 'hotdash_loader',
            'analyst': 'hotdash_analyst',
            'operator': 'hotdash_operator',
            'ai': 'hotdash_ai_readonly',
        },
        'managed_schemas': ['staging', 'intermediate', 'marts', 'ops'],
        'analyst_schemas': ['staging', 'marts', 'ops'],
        'marts_schema': 'marts',
        'facts_schema': var('facts_schema', 'public'),
        'facts_table': 'facts',
        'shop_column': 'shop_domain',
        'shop_setting': 'app.shop_domain',
        'session_shop_function': 'hotdash_session_shop',
        'policies': {
            'owner': 'hotdash_owner_all',
            'analyst': 'hotdash_analyst_read',
            'shop': 'hotdash_shop_read',
        },
        'pii_columns': var('pii_columns', []),
    }) }}
{%- endmacro %}

{#- A SQL string literal (quotes doubled): names from configuration, never data. -#}
{% macro hotdash_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- A text[] literal of the values. -#}
{% macro hotdash_literal_array(values) -%}
    array[
        {%- for value in values -%}
            {{ hotdash_literal(value) }}{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    ]::text[]
{%- endmacro %}
