{#- Building blocks of the incremental staging models. -#}

{#-
    The incremental cursor: the highest value of `column` already in the model, or 0 on a full
    refresh. Always an expression, so the SQL around it reads the same in both cases.
-#}
{% macro incremental_cursor(column) -%}
    {%- if is_incremental() -%}
        (select coalesce(max(existing.{{ column }}), 0) from {{ this }} as existing)
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#-
    The good facts of one topic (facts_triage found no reason to quarantine them); on an
    incremental run only those of the judge batches past the model's cursor. The cursor is the
    batch, not the fact id: a fact committed late (a lower id than facts already staged) is in a
    later batch, so it is read on the first build after its commit (macros/triage.sql).
-#}
{% macro facts_of_topic(topic) -%}
    select
        facts.id,
        facts.shop_domain,
        facts.value,
        facts.created_at,
        triage.judge_batch
    from {{ ref('facts_triage') }} as triage
    inner join {{ source('app', 'facts') }} as facts on triage.fact_id = facts.id
    where
        triage.topic = '{{ topic }}'
        and triage.reason is null
        and triage.judge_batch > {{ incremental_cursor('judge_batch') }}
{%- endmacro %}

{#-
    One row per key: the latest version wins (order_by decides, fact_id breaks ties).
    On an incremental run the rows already staged for the keys of the new batch compete too,
    so an event that arrives out of order never replaces a newer one, and the result equals a
    full refresh. The model's columns must be those of `parsed`, in order.
-#}
{% macro latest_version(parsed, keys, order_by) -%}
    select distinct on ({{ keys | join(', ') }}) candidates.*
    from (
        select * from {{ parsed }}
        {%- if is_incremental() %}
            union all
            select existing.* from {{ this }} as existing
            where exists (
                select 1 from {{ parsed }} as batch
                where
                {%- for key in keys %}
                    batch.{{ key }} = existing.{{ key }}{% if not loop.last %} and{% endif %}
                {%- endfor %}
            )
        {%- endif %}
    ) as candidates
    order by {{ keys | join(', ') }}, {{ order_by }}, fact_id desc
{%- endmacro %}

{#-
    The winning parent rows that changed since the child model last ran (read from judge batches
    past the child's cursor), joined back to their payload: child models (line items, variants)
    unnest from here.
-#}
{% macro changed_parents(parent_model, parent_columns) -%}
    select
        {%- for column in parent_columns %}
        parent.{{ column }},
        {%- endfor %}
        parent.fact_id as parent_fact_id,
        parent.judge_batch as parent_judge_batch,
        facts.value
    from {{ ref(parent_model) }} as parent
    inner join {{ source('app', 'facts') }} as facts on parent.fact_id = facts.id
    where parent.judge_batch > {{ incremental_cursor('parent_judge_batch') }}
{%- endmacro %}
