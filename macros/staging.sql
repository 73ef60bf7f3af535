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
    The same cursor as a number, read when the node is compiled, right before it runs
    (_literal_at_run, macros/triage.sql), for a child model (line items), which reads its parent's
    rows past it: the parent has an index on its judge batch, and with a number the planner reads
    the new batches through it. With the subquery it took a third of the parent's rows to lie past
    the cursor, scanned every staged order for the changed ones and hashed every line item to
    delete theirs (at 1M facts, 75 ms to find 3,661 changed orders' payloads where the index takes
    25). The pre-hook and the model read the same number, the cursor before the pre-hook's delete.
    Not for the judge's verdicts (latest_facts): the triage has no index that leads with the
    batch, and on statistics older than the new batch the planner took it for one row.
-#}
{% macro incremental_cursor_literal(column) -%}
    {%- if is_incremental() -%}
        {{ _literal_at_run('select ' ~ incremental_cursor(column)) }}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- The good verdicts of one topic in the judge batches past the model's cursor (alias: the
    triage's alias in the query): the versions latest_facts chooses among. -#}
{% macro _good_verdicts(alias, topic) -%}
    {{ alias }}.topic = '{{ topic }}'
    and {{ alias }}.reason is null
    and {{ alias }}.judge_batch > {{ incremental_cursor('judge_batch') }}
{%- endmacro %}

{#-
    Join each row to its fact (as `facts`) by id. A plain join, so the query can run in parallel
    workers: PostgreSQL hashes the facts' ids (the payloads are fetched only for the rows that
    match) or looks each row up through the primary key when the rows are few.
-#}
{% macro fact_by_id(fact_id) -%}
    inner join {{ source('app', 'facts') }} as facts on facts.id = {{ fact_id }}
{%- endmacro %}

{#- What latest_facts keeps of a version (a triage row, `alias`): its fact, batch, entity and
    time. -#}
{% macro _version_columns(alias, triage_keys) -%}
    {{ alias }}.fact_id,
    {{ alias }}.judge_batch,
    {{ alias }}.shop_domain,
    {%- for key in triage_keys %}
    {{ alias }}.{{ key }},
    {%- endfor %}
    {{ alias }}.version_at
{%- endmacro %}

{#-
    The latest version of each entity among the good facts of one topic (facts_triage found no
    reason to quarantine them), read from the judge's verdicts alone: the entity's key
    (entity_id, location_id) and the time of its version (version_at, from the topic's version
    field: macros/quarantine_rules.sql), the highest fact id breaking ties. Only the winners'
    payloads are read and parsed: each by its id, in id order.
    On an incremental run, only the judge batches past the model's cursor, and a winner the row
    already staged for its key is newer than is dropped: an event that arrives out of order never
    replaces a newer one, and the result equals a full refresh. The cursor is the batch, not the
    fact id: a fact committed late (a lower id than facts already staged) is in a later batch, so
    it is read on the first build after its commit (macros/triage.sql).
    `keys`: the model's key columns besides shop_domain, matched to entity_id (and location_id).
    Each row carries the judge's entity_id, the key its winner was chosen by: a model whose key
    is a hash of the payload (var topics' `entity_macro`) stages it from there rather than hash
    the payload again (at 1M facts, warm: search console 0.21 to 0.13 s, GA4 0.08 to 0.06 s).
    A topic whose entities have many versions each (var topics, `versions: many`) sorts them
    once instead (DISTINCT ON, in one process), before any payload is read.
-#}
{% macro latest_facts(topic, keys) -%}
    {%- set triage_keys = ['entity_id', 'location_id'][:keys | length] -%}
    {%- set version = topic_version_field(topic) -%}
    {%- set many = var('topics')[topic].get('versions') == 'many' -%}
    select
        facts.id,
        facts.shop_domain,
        facts.value,
        facts.created_at,
        latest.judge_batch,
        latest.entity_id
    from (
        select winners.*
        from (
        {%- if many %}
            -- Many versions per entity: one sort finds each entity's newest, where the
            -- anti-join below would compare every pair of an entity's versions. The integer
            -- keys sort first: most comparisons then end before the shop's text (inventory
            -- levels at 1M: 0.7 s against 1.15 s), and the groups are the same.
            select distinct on ({% for key in triage_keys %}newest.{{ key }}, {% endfor %}newest.shop_domain)
                {{ _version_columns('newest', triage_keys) }}
            from {{ ref('facts_triage') }} as newest
            where
                {{ _good_verdicts('newest', topic) }}
            order by
                {%- for key in triage_keys %}
                newest.{{ key }} asc,
                {%- endfor %}
                newest.shop_domain asc,
                newest.version_at desc nulls last,
                newest.fact_id desc
        {%- else %}
            -- No newer version among the same batches: an anti-join of the verdicts alone.
            select
                {{ _version_columns('latest', triage_keys) }}
            from {{ ref('facts_triage') }} as latest
            where
                {{ _good_verdicts('latest', topic) }}
                and not exists (
                    select 1 from {{ ref('facts_triage') }} as newer
                    where
                        {{ _good_verdicts('newer', topic) }}
                        {%- for key in triage_keys %}
                        and newer.{{ key }} = latest.{{ key }}
                        {%- endfor %}
                        -- last: a merge join sorts by the keys in this order (customers at 1M:
                        -- 0.3 s against 0.5 s with the shop's text first)
                        and newer.shop_domain = latest.shop_domain
                        and (newer.version_at, newer.fact_id) > (latest.version_at, latest.fact_id)
                )
        {%- endif %}
        ) as winners
        where
            true
            {%- if is_incremental() %}
            -- Each winner looks up its key in the model's unique index (offset 0 keeps the
            -- subquery per winner): an anti-join would hash every staged row, the planner taking
            -- a third of the topic's verdicts to lie past the cursor. At 3M facts, a night's
            -- query 37-52 ms instead of 112-119 (customers), 167-177 instead of 268-298 (orders).
            and not exists (
                select 1 from {{ this }} as staged
                where
                    {%- for key in keys %}
                    {% if not loop.first %}and {% endif %}staged.{{ key }} = winners.{{ triage_keys[loop.index0] }}
                    {%- endfor %}
                    and staged.shop_domain = winners.shop_domain
                    and (staged.{{ version }}, staged.fact_id) > (winners.version_at, winners.fact_id)
                offset 0  -- noqa: AM09
            )
            {%- endif %}
        -- In the facts' order, so the payloads below are read along the table.
        order by winners.fact_id
    ) as latest
    -- Then each winner's fact by its id, one row at a time: a staging model's INSERT runs in one
    -- process, where a join would scan every fact (at 1M facts, 1.5 GB) to hash the winners'.
    cross join lateral (
        select winner.id, winner.shop_domain, winner.value, winner.created_at
        from {{ source('app', 'facts') }} as winner
        where winner.id = latest.fact_id
        offset 0  -- noqa: AM09
    ) as facts
{%- endmacro %}

{#-
    The winning parent rows that changed since the child model last ran (read from judge batches
    past the child's cursor), joined back to their payload: child models (line items, variants)
    unnest from here. A join: read one at a time (as latest_facts does), the payloads met a Memoize
    node the planner keyed on the whole payload (1.9 s for the line items at 1M, against 1.3).
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
    {{ fact_by_id('parent.fact_id') }}
    where parent.judge_batch > {{ incremental_cursor_literal('parent_judge_batch') }}
{%- endmacro %}

{#-
    Pre-hook of a child model keyed on its parent (delete+insert on the parent's key): the rows of
    every parent that changed since the child last ran go first, in the transaction that inserts
    their new rows. delete+insert alone deletes only the keys the new rows carry, so a parent whose
    new version lists no items (an order edited down to no line items) would keep its old ones.
-#}
{% macro delete_items_of_changed_parents(parent_model, parent_keys) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as items
        using {{ ref(parent_model) }} as parent
        where
            parent.judge_batch > {{ incremental_cursor_literal('parent_judge_batch') }}
            {%- for key in parent_keys %}
            and items.{{ key }} = parent.{{ key }}
            {%- endfor %}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The config of an incremental staging model: built on the judge's batches by delete+insert on
    its key (shop_domain and the entity's), failing on a schema change, with a unique index on
    its rows' key (`row_key`, the key by default; the shop second, key_index), indexes on fact_id
    and judge_batch (what an incremental run and the accounting check look up), and the model's
    own `indexes`, each created on an existing table that lacks it (ensure_indexes). -#}
{% macro staging_config(unique_key, row_key=none, indexes=[]) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail',
        post_hook="{{ ensure_indexes() }}",
        indexes=[
            {'columns': key_index(row_key or unique_key), 'unique': true},
            {'columns': ['fact_id']},
            {'columns': ['judge_batch']},
        ] + indexes,
    ) }}
{%- endmacro %}

{#- The config of a child staging model, one row per item of its parent's array (line items):
    built from the changed parents by delete+insert on the parent's key, the items of every
    changed parent deleted first (delete_items_of_changed_parents), failing on a schema change,
    with a unique index on the parent's key and the item's position (what the delete reads; the
    shop second, key_index), an index on parent_judge_batch (what the order models read of a
    night's batch), and the model's own `indexes`, each created on an existing table that lacks it
    (ensure_indexes). Its first build and a full refresh load it with CREATE TABLE AS, in parallel
    workers (load_in_parallel, macros/contract_tables.sql). -#}
{% macro item_staging_config(parent_model, parent_keys, indexes=[]) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        load_in_parallel=true,
        unique_key=parent_keys,
        on_schema_change='fail',
        pre_hook="{{ delete_items_of_changed_parents('" ~ parent_model ~ "', "
            ~ (parent_keys | tojson) ~ ") }}",
        post_hook="{{ ensure_indexes() }}",
        indexes=[
            {'columns': key_index(parent_keys + ['position']), 'unique': true},
            {'columns': ['parent_judge_batch']},
        ] + indexes,
    ) }}
{%- endmacro %}
