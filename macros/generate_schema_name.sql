{#- Custom schemas are used as they are (staging, intermediate, marts, ops), not prefixed with the
    target schema: grants, row-level security and the dashboard's queries name them directly. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
