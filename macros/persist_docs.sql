{#-
    A model's descriptions as PostgreSQL comments (persist_docs in dbt_project.yml), in one
    statement: the table's comment, then each documented column that the table has. dbt's own
    version reads information_schema.columns twice per model to find those columns; this reads
    pg_attribute in the same statement. A documented column the table lacks is skipped, as dbt
    skips it (names unquoted in the YAML compare in lower case).
-#}
{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set statements = [] -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do statements.append(alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- set documented = [] -%}
        {%- for name, column in model.columns.items() -%}
            {%- do documented.append(
                "(" ~ postgres_escape_comment(name if column.quote else name | lower) ~ ", "
                ~ postgres_escape_comment(column.description or '') ~ ")"
            ) -%}
        {%- endfor -%}
        {%- set comment_columns -%}
do $persist_docs$
declare
    col record;
begin
    for col in
        select documented.name, documented.description
        from (values {{ documented | join(', ') }}) as documented (name, description)
        inner join pg_attribute as attribute
            on attribute.attname = documented.name
        where
            attribute.attrelid = '{{ relation }}'::regclass
            and attribute.attnum > 0
            and not attribute.attisdropped
    loop
        execute format('comment on column %s.%I is %L', '{{ relation }}', col.name, col.description);
    end loop;
end
$persist_docs$
        {%- endset -%}
        {%- do statements.append(comment_columns) -%}
    {%- endif -%}
    {%- if statements -%}
        {%- do run_query(statements | join(';\n')) -%}
    {%- endif -%}
{%- endmacro %}
