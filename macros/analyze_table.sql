{#- Post-hook: planner statistics for a model built as a table (a view has none to gather). A
    fresh table has none, and without them the joins downstream go quadratic. -#}
{% macro analyze_table() -%}
    {%- if config.get('materialized') != 'view' -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
