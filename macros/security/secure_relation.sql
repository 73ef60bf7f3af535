{#-
    Post-hook of every model and seed: the relation's grants, and for a mart its forced
    row-level security and policies, in the transaction that builds it. dbt builds a table as a
    new relation and swaps it in by renaming; this runs after the rename and before the commit,
    so the new table becomes visible to readers already secured: a reader sees the old table or
    the new one, never one without grants (an error) or without policies. The roles exist by
    then (on-run-start creates them). apply_security at on-run-end still sweeps the whole state.
-#}
{% macro hotdash_secure_relation(relation) -%}
    {%- if not execute or not var('apply_security', true) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set statements = run_query(hotdash_security_statements_query(only=relation)) -%}
    {%- set sql = statements.columns['sql'].values() | reject('none') | list -%}
    {{ return(sql | join(';\n')) }}
{%- endmacro %}
