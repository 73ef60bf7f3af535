{#- Post-hooks: planner statistics for a model built as a table (a view has none to gather). A
    fresh table has none, and without them the joins downstream go quadratic.

    The ANALYZE runs after the model's transaction commits (analyze_table, a hook outside the
    transaction), with the rows the transaction wrote already counted (flush_row_counts_at_commit,
    inside it). A backend reports its row counts to the statistics system when it goes idle, at
    most once a second: an ANALYZE in the transaction that wrote the rows, or right after it,
    resets the table's changes since analyze before they are counted, and autovacuum then
    analyzes every table a build wrote a second time, at the server's statistics target, about a
    minute later. The one cost: between the commit and the ANALYZE (milliseconds), a query on a
    table built new plans with the estimates PostgreSQL makes from its size.

    Every table is analyzed from a sample of 3,000 rows (statistics target 10) instead of 30,000:
    what the models downstream and the incremental merges plan by are row counts and how
    distinct their keys are, which such a sample gives, and at 1M facts the default sample costs
    0.15 to 0.28 s a table (the staging orders and customers, the order tables), one after
    another along the chain of order and customer tables, against 0.02 s. A column given a
    statistics target of its own keeps it.

    An incremental model keeps its statistics between builds: it is analyzed whole when it has
    none (first build, full refresh) or grew by more than a tenth in pages since it was last
    analyzed, so a night with a few new facts does not resample every column of the large staging
    tables (the planner scales the row counts of their statistics by the pages they have now).
    Its judge batch column alone (judge_batch, or a child model's parent_judge_batch) is
    analyzed when rows were written to it since it was last analyzed whole: the models
    downstream read a night's rows by their batch (changed_keys, macros/incremental.sql), and
    statistics that predate the batch put it at one row where it has thousands; on that
    estimate the planner read the catalog and the refunds once per line (the statement of
    int_shopify__order_lines at 1M facts: 0.5 to 0.7 s of a night, against 0.08 with the batch
    in the statistics). One column from the same sample costs 10 to 13 ms on the largest
    staging tables at 1M, the whole table 27 to 36. Such an ANALYZE leaves the table's changes
    since analyze counted (PostgreSQL resets them only when it analyzes every column), so the
    next build's ANALYZE of the column comes even if that build wrote nothing, and autovacuum
    analyzes the whole table once enough rows changed, as it would without it.
-#}
{% macro flush_row_counts_at_commit() -%}
    {%- if config.get('materialized') != 'view' -%}
do $flush$
begin
    -- PostgreSQL 15 and later; before, the counts arrive when they arrive
    if to_regprocedure('pg_stat_force_next_flush()') is not null then
        execute 'select pg_stat_force_next_flush()';
    end if;
end
$flush$
    {%- endif -%}
{%- endmacro %}

{% macro analyze_table() -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if materialized != 'view' -%}
        {{ analyze_when_changed(this, always=materialized != 'incremental') }}
    {%- endif -%}
{%- endmacro %}

{% macro analyze_when_changed(relation, always=false) -%}
do $analyze$
declare
    rel regclass := to_regclass({{ dbt.string_literal(adapter.quote(relation.schema) ~ '.' ~ adapter.quote(relation.identifier)) }});
    {%- if not always %}
    batch_column name;
    {%- endif %}
begin
    if rel is null then
        return;
    end if;
    perform set_config('default_statistics_target', '10', true);
    {%- if always %}
    execute format('analyze %s', rel);
    {%- else %}
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
        execute format('analyze %s', rel);
        return;
    end if;
    -- The judge batch the models downstream read a night's rows by, when rows were written since
    -- the last analyze of the whole table.
    select att.attname into batch_column
    from pg_attribute as att
    where
        att.attrelid = rel
        and att.attname in ('judge_batch', 'parent_judge_batch')
        and not att.attisdropped
    order by att.attname desc
    limit 1;
    if batch_column is not null and exists (
        select from pg_stat_all_tables as counts
        where counts.relid = rel and counts.n_mod_since_analyze > 0
    ) then
        execute format('analyze %s (%I)', rel, batch_column);
    end if;
    {%- endif %}
end
$analyze$
{%- endmacro %}
