{#-
    The security model as the macros use it: the dbt var `security` (dbt_project.yml, where
    every name is declared; runner/settings.py reads the same var for verification), with the
    schema lists derived from it, the facts relation (var facts_schema) and the PII columns (var
    pii_columns).
-#}

{% macro hotdash_security_config() -%}
    {%- set model = var('security', {}) -%}
    {%- set missing = [] -%}
    {%- for key in ['roles', 'marts_schema', 'analyst_schemas', 'private_schemas', 'shop_column',
                    'shop_setting', 'session_shop_function', 'policies'] if model.get(key) is none -%}
        {%- do missing.append(key) -%}
    {%- endfor -%}
    {%- for group, keys in [('roles', ['loader', 'analyst', 'operator', 'ai']),
                            ('policies', ['owner', 'analyst', 'shop'])] if model.get(group) -%}
        {%- for key in keys if model[group].get(key) is none -%}
            {%- do missing.append(group ~ '.' ~ key) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "hotdash security: the dbt var security lacks " ~ (missing | join(', '))
            ~ " (dbt_project.yml declares them all; --vars replaces the whole var)"
        ) }}
    {%- endif -%}
    {%- set marts = model['marts_schema'] -%}
    {%- set analyst_schemas = model['analyst_schemas'] | list -%}
    {{ return({
        'roles': model['roles'],
        'managed_schemas': analyst_schemas + [marts] + (model['private_schemas'] | list),
        'analyst_schemas': analyst_schemas + [marts],
        'marts_schema': marts,
        'facts_schema': var('facts_schema', 'public'),
        'facts_table': 'facts',
        'shop_column': model['shop_column'],
        'shop_setting': model['shop_setting'],
        'session_shop_function': model['session_shop_function'],
        'policies': model['policies'],
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
