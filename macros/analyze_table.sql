{#- Post-hook: planner statistics for a model built as a table (a view has none to gather). A
    fresh table has none, and without them the joins downstream go quadratic.

    Every table is analyzed from a sample of 3,000 rows (statistics target 10) instead of 30,000:
    what the models downstream and the incremental merges plan by are row counts and how
    distinct their keys are, which such a sample gives, and at 1M facts the default sample costs
    0.15 to 0.28 s a table (the staging orders and customers, the order tables), one after
    another along the chain of order and customer tables, against 0.02 s. A column given a
    statistics target of its own keeps it.

    An incremental model keeps its statistics between builds: it is analyzed when it has none
    (first build, full refresh) or when it grew by more than a tenth in pages since it was last
    analyzed. A night with a few new facts then does not rescan the large staging tables: the
    planner scales the row counts of their statistics by the pages they have now, and
    autovacuum analyzes a table whose rows changed much without growing. -#}
{% macro analyze_table() -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if materialized == 'incremental' -%}
        {{ analyze_when_changed(this) }}
    {%- elif materialized != 'view' -%}
        set local default_statistics_target = 10;
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{% macro analyze_when_changed(relation) -%}
do $analyze$
declare
    rel regclass := to_regclass({{ dbt.string_literal(adapter.quote(relation.schema) ~ '.' ~ adapter.quote(relation.identifier)) }});
begin
    if exists (
        select
        from pg_class as c
        inner join pg_namespace as n on c.relnamespace = n.oid
        where
            c.oid = rel
            and (
                not exists (
                    select from pg_stats as st
                    where st.schemaname = n.nspname and st.tablename = c.relname
                )
                or pg_relation_size(c.oid) > 1.1 * c.relpages * current_setting('block_size')::bigint
            )
    ) then
        perform set_config('default_statistics_target', '10', true);
        execute format('analyze %s', rel);
    end if;
end
$analyze$
{%- endmacro %}
