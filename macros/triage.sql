{#-
    The judge's batches and watermark (models/staging/facts_triage.sql, ops.facts_triage_batches).

    A fact id is handed out when a writer inserts, and the fact becomes visible when the writer
    commits, so facts commit out of id order: a writer holding its transaction open commits an
    id below facts already judged. Each judge run is one batch, numbered in commit order (runs
    are serialized: one build at a time, and the batch number is a primary key). A batch records
    the oldest transaction still running when it began (judged_xmin), the highest fact id judged
    (max_fact_id), and, after its commit, the next transaction id (xid_horizon): every writer
    holding an id up to max_fact_id took that id before the batch judged, so its transaction id
    is below the horizon.

    Batch j's max_fact_id is settled once a later batch k began with no transaction below j's
    horizon still running (k.judged_xmin >= j.xid_horizon): every fact up to it had then
    committed (and batch k or an earlier one judged it) or will never exist. The judge reads the
    facts past the highest settled id that are not judged yet: the new facts, and any committed
    late. A writer that holds its transaction for minutes keeps the watermark back for that long;
    it only widens the scan.

    A full refresh judges every fact again into a new table and drops the older batches, but not
    what they settled: every fact up to the watermark settled before it began had committed or
    will never exist by then, so its snapshot sees them all and its batch judges them. Its batch
    keeps that watermark (inherited_through), and the watermark is the higher of the two. Without
    it, the judge run that settles the full refresh (runner.pipeline._settle_judged_anew), and any
    build while a writer keeps the full refresh's batch unsettled, would compare every fact's id
    with the verdicts (at 1M facts 0.7 s) instead of the ids past the last night's.
-#}

{#- The highest fact id up to which every fact is judged or will never commit (0: none): the
    function ops.triage_settled_through() (macros/setup/ddl.sql), the one definition, which the
    runner calls too (runner.contracts.settled_through). Only sealed batches count as "later":
    committed, and not the batch being judged. -#}
{% macro triage_settled_through() -%}
    {{ source('ops', 'facts_triage_batches').schema }}.triage_settled_through()
{%- endmacro %}

{#- The same watermark as a number, read when the node that uses it is compiled, right before it
    runs (_literal_at_run): the judge reads it before its pre-hooks open the batch, the accounting
    check after the judge. With a number the planner sees how many facts lie past it (every fact,
    right after a full refresh): the judge merges ids instead of hashing every verdict, the
    accounting check hashes the facts' index against the triage instead of probing it per fact. -#}
{% macro triage_settled_literal() -%}
    {{ _literal_at_run('select ' ~ triage_settled_through()) }}
{%- endmacro %}

{#- The facts an incremental judge run judges: past the settled watermark and not judged yet
    (triage_facts_to_judge; a full refresh judges every fact). -#}
{% macro triage_not_judged(fact_id) -%}
    {#- Read before the run's batch opens. Only a judge run settles a batch, and runs are
        serialized: the number cannot move before the query runs, and a lower one would only
        widen the scan. #}
    {%- set settled = triage_settled_literal() -%}
    ({{ fact_id }} > {{ settled }} and not exists (
        select 1 from {{ this }} as judged
        where
            judged.fact_id = {{ fact_id }}
            -- The watermark again: PostgreSQL carries an equality across a join, not a range,
            -- and the triage's index is read from it on, not from its first id.
            and judged.fact_id > {{ settled }}
    ))
{%- endmacro %}

{#-
    Pre-hook of an incremental judge run, in its transaction: the anti-join of triage_not_judged
    as a merge of two indexes read in id order (the facts' primary key and the triage's unique
    fact_id), neither a hash of every verdict nor a sort of them. Right after a full refresh,
    when the watermark is 0, at 3M facts: the hash took 1.0 s; the merge 0.76 to 0.89 s before
    autovacuum has visited the new triage (its index-only scan then reads the table too) and
    0.36 to 0.55 s after; with hash joins alone ruled out, the planner sorted the triage's ids on
    disk instead (1.25 s). The judge's query has no other join than each new fact by id, and no
    sort. `set local` ends with the transaction. A full refresh reads every fact and joins nothing.
-#}
{% macro triage_merge_not_judged() -%}
    {%- if is_incremental() -%}
        set local enable_hashjoin = off;
        set local enable_sort = off
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#-
    The FROM and WHERE of the judge's facts (`facts`: each fact's row): the facts of the staged
    topics, on an incremental run only those triage_not_judged keeps, found from the ids alone
    (the facts' primary key against the triage's unique index, both in id order: a merge, which
    triage_merge_not_judged asks for), then read by id; a scan of the rows would read every fact
    past the watermark (all of them right after a full refresh, whose batch no later one has
    settled yet) to keep the few new ones. A full refresh reads every fact once. `topics`: these
    staged topics only (default all).
-#}
{% macro triage_facts_to_judge(topics=none) -%}
    {%- set topics = judged_topics(topics) %}
    {%- if is_incremental() -%}
    from {{ source('app', 'facts') }} as candidate
    {{ fact_by_id('candidate.id') }}
    where
        {{ triage_not_judged('candidate.id') }}
        -- The candidate's topic too: its ids are then read from the (topic, id) index.
        and candidate.topic in ('{{ topics | join("', '") }}')
        and facts.topic in ('{{ topics | join("', '") }}')
    {%- else -%}
    from {{ source('app', 'facts') }} as facts
    where
        facts.topic in ('{{ topics | join("', '") }}')
    {%- endif -%}
{%- endmacro %}

{#- The batch being judged (opened by the pre-hook, in this transaction). -#}
{% macro triage_current_batch() -%}
    (select max(batches.judge_batch) from {{ source('ops', 'facts_triage_batches') }} as batches)
{%- endmacro %}

{#-
    Pre-hook, first in the batch's transaction: open the batch, one past the last (also on a full
    refresh: the staging models' cursors are batch numbers and must never see a number twice),
    with the oldest transaction running now. The judge's own snapshot is taken later, so the
    oldest transaction it sees running is no older: the record errs on the safe side.
-#}
{% macro triage_open_batch() -%}
    insert into {{ source('ops', 'facts_triage_batches') }} (judge_batch, judged_xmin)
    select
        coalesce(max(batches.judge_batch), 0) + 1,
        pg_snapshot_xmin(pg_current_snapshot())
    from {{ source('ops', 'facts_triage_batches') }} as batches
{%- endmacro %}

{#-
    Post-hook, in the batch's transaction: the highest fact id judged. A full refresh judged every
    fact again into a new table, so the older batches no longer describe it: they go, and its
    batch keeps the watermark they settled (inherited_through; the header says why it holds).
-#}
{% macro triage_close_batch() -%}
    update {{ source('ops', 'facts_triage_batches') }}
    set
        max_fact_id = (select coalesce(max(judged.fact_id), 0) from {{ this }} as judged)
        {%- if not is_incremental() %},
        inherited_through = {{ triage_settled_through() }}
        {%- endif %}
    where judge_batch = {{ triage_current_batch() }};
    {%- if not is_incremental() %}
    delete from {{ source('ops', 'facts_triage_batches') }}
    where judge_batch < {{ triage_current_batch() }};
    {%- endif %}
{%- endmacro %}

{#-
    Post-hook, in the batch's transaction: what every row of the triage holds, as constraints of
    the table, so PostgreSQL checks each row as it is written and no test reads the whole triage
    each night: fact_id, topic and judge_batch are not null (fact_id is unique by the model's
    index), and a good fact has its version_at. Added when missing, in one ALTER TABLE (one scan):
    on a full refresh, the new table; on the first build of a triage made by an older version.
    Rows such a version wrote without them (a good fact judged before version_at existed) stop the
    build with what to run.
-#}
{% macro triage_constraints() -%}
    do $constraints$
    declare
        missing text[];
    begin
        select array_agg(format('alter column %I set not null', columns.attname))
        into missing
        from pg_attribute as columns
        where
            columns.attrelid = '{{ this }}'::regclass
            and columns.attname in ('fact_id', 'topic', 'judge_batch')
            and not columns.attnotnull;
        if not exists (
            select from pg_constraint as checks
            where checks.conrelid = '{{ this }}'::regclass and checks.conname = 'good_fact_has_version_at'
        ) then
            missing := array_append(
                missing,
                'add constraint good_fact_has_version_at check (reason is not null or version_at is not null)'
            );
        end if;
        if missing is not null then
            execute format('alter table %s %s', '{{ this }}', array_to_string(missing, ', '));
        end if;
    exception when check_violation or not_null_violation then
        raise exception '{{ this.schema }}.{{ this.identifier }} holds facts judged by an older version of hotdash (%)', sqlerrm
            using hint = 'Judge them again: run `hotdash build --full-refresh` (or'
                || ' `dbt build --full-refresh`) once.';
    end
    $constraints$
{%- endmacro %}

{#-
    Post-hook after the commit: the horizon of every batch that has none yet (a build killed
    between the commit and this statement leaves one, sealed by the next build: later is safe).
    dbt runs hooks outside the transaction without committing them, hence the commit here.
-#}
{% macro triage_seal_batches() -%}
    update {{ source('ops', 'facts_triage_batches') }}
    set xid_horizon = pg_snapshot_xmax(pg_current_snapshot())
    where xid_horizon is null and max_fact_id is not null;
    commit
{%- endmacro %}

{#- The key of the entity a fact describes (its staging model's key besides shop_domain), read
    once when the fact is judged, so the accounting check matches facts to staged entities
    without reading payloads again: the id, or an inventory level's inventory_item_id ...
    `rec` holds the payload's fields (quarantine_rules.sql, judged_fields); `topics`: the staged
    topics the query judges (default all). -#}
{% macro triage_entity_id(topic, rec='payload', topics=none) -%}
    {%- set others = [] -%}
    {%- set computed = [] -%}
    {%- for staged, spec in var('topics').items() if spec.entity != 'id' and staged in judged_topics(topics) -%}
        {%- if spec.get('entity_macro') -%}
            {%- do computed.append((staged, spec.entity_macro)) -%}
        {%- else -%}
            {%- do others.append((staged, spec.entity)) -%}
        {%- endif -%}
    {%- endfor -%}
    case
        {%- for staged, field in others %}
        when {{ topic }} = '{{ staged }}' then {{ safe_bigint(rec ~ '.' ~ field) }}
        {%- endfor %}
        {#- A key with no id in the payload: the topic's macro computes it (a bigint). #}
        {%- for staged, macro in computed %}
        when {{ topic }} = '{{ staged }}' then {{ context[macro](rec) }}
        {%- endfor %}
        {%- for staged, spec in var('topics').items() if spec.entity == 'id' and staged in judged_topics(topics) %}
        when {{ topic }} = '{{ staged }}' then {{ safe_bigint(rec ~ '.id') }}
        {%- endfor %}
    end
{%- endmacro %}

{#- ... the text of its version field (the latest version is staged: macros/staging.sql) ... -#}
{% macro triage_version_text(topic, rec='payload', topics=none) -%}
    case {{ topic }}
        {%- for staged in judged_topics(topics) %}
        when '{{ staged }}' then {{ rec }}.{{ topic_version_field(staged) }}
        {%- endfor %}
    end
{%- endmacro %}

{#- ... the time of that version, from its text (null for a bad fact): ISO 8601, or unix seconds
    too for a topic whose `timestamps` are unix_or_iso (var topics). The rules checked it. -#}
{% macro triage_version_at(topic, version_text) -%}
    {%- set unix = [] -%}
    {%- for staged, spec in var('topics').items() if spec.get('timestamps', 'iso') == 'unix_or_iso' -%}
        {%- do unix.append(staged) -%}
    {%- endfor -%}
    {%- if unix -%}
    case
        when {{ topic }} in ('{{ unix | join("', '") }}') then {{ checked_unix_or_iso(version_text) }}
        else {{ checked_timestamptz(version_text) }}
    end
    {%- else -%}
    {{ checked_timestamptz(version_text) }}
    {%- endif -%}
{%- endmacro %}

{#- ... and its location_id (inventory levels only). -#}
{% macro triage_location_id(topic, rec='payload', topics=none) -%}
    {%- set located = [] -%}
    {%- for staged, spec in var('topics').items() if spec.get('location') and staged in judged_topics(topics) -%}
        {%- do located.append((staged, spec.get('location'))) -%}
    {%- endfor -%}
    {%- if located -%}
    case
        {%- for staged, field in located %}
        when {{ topic }} = '{{ staged }}' then {{ safe_bigint(rec ~ '.' ~ field) }}
        {%- endfor %}
    end
    {%- else -%}
    null::bigint
    {%- endif -%}
{%- endmacro %}

{#- The good facts of one topic whose entity is not in its staging model (the accounting test):
    `keys` are the model's key columns besides shop_domain, matched to entity_id (and
    location_id), in the batches from `from_batch` on. An anti-join PostgreSQL hashes once (or
    probes by the model's key for a few new facts); no payload is read. -#}
{% macro judged_good_not_staged(topic, model, keys, from_batch='0') -%}
    {%- set triage_keys = ['entity_id', 'location_id'] -%}
    select
        triage.fact_id,
        triage.shop_domain,
        triage.topic,
        'judged good, not staged' as problem
    from {{ ref('facts_triage') }} as triage
    where
        triage.topic = '{{ topic }}'
        and triage.reason is null
        and triage.judge_batch >= {{ from_batch }}
        and not exists (
            select 1 from {{ ref(model) }} as staged
            where
                {%- for key in keys %}
                {% if not loop.first %}and {% endif %}staged.{{ key }} = triage.{{ triage_keys[loop.index0] }}
                {%- endfor %}
                -- last: a merge join then sorts on the integer keys first
                and staged.shop_domain = triage.shop_domain
        )
{%- endmacro %}

{#-
    The accounting check's scope (tests/dbt/assert_every_fact_is_accounted_for.sql): every fact,
    or, when the environment says HOTDASH_ACCOUNTING=new (`hotdash build` on an incremental
    night), what no passing check has read: the good facts of the batches not accounted for
    (facts_triage_batches.accounted_at) and the facts past the watermark the last passing check
    verified (accounted_through). A build that failed before its check leaves its batches to the
    next one. triage_record_accounting (on-run-end) records a check that passed.
-#}
{% macro accounting_scope_new() -%}
    {{ return(env_var('HOTDASH_ACCOUNTING', 'all') == 'new') }}
{%- endmacro %}

{#- The first batch to check ... -#}
{% macro accounting_from_batch() -%}
    {%- if accounting_scope_new() -%}
        {{ _literal_at_run(
            "select coalesce(min(batches.judge_batch) filter (where batches.accounted_at is null),"
            ~ " max(batches.judge_batch) + 1, 0) from "
            ~ source('ops', 'facts_triage_batches') ~ " as batches"
        ) }}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- ... and the fact id past which every fact must be judged. -#}
{% macro accounting_from_fact() -%}
    {%- if accounting_scope_new() -%}
        {{ _literal_at_run(
            "select coalesce(max(batches.accounted_through), 0) from "
            ~ source('ops', 'facts_triage_batches') ~ " as batches"
        ) }}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- A bound as a number, read when its node is compiled, right before it runs (the accounting
    check after the judge; the judge before its pre-hooks open the batch; a child staging model's
    cursor, incremental_cursor_literal in macros/staging.sql): with a literal the
    planner sees how few new facts there are, where it must guess for a subquery's value, and
    probes or merges by key instead of hashing whole tables. The query itself when dbt only parses
    or compiles without running. -#}
{% macro _literal_at_run(sql) -%}
    {%- if execute and flags.WHICH in ('build', 'test', 'run') -%}
        {{ run_query(sql).columns[0].values()[0] }}
    {%- else -%}
        ({{ sql }})
    {%- endif -%}
{%- endmacro %}

{#- On-run-end: when the checks that read only the batches no passing check has read (the
    accounting check, assert_staged_facts_are_not_quarantined and
    assert_order_line_items_have_their_order) all ran and passed, the batches they covered and
    the watermark verified (nothing judges between the checks and the end of the run). When one
    failed or did not run, the next build reads these batches again. -#}
{% macro triage_record_accounting(results) -%}
    {%- set checks = [
        'assert_every_fact_is_accounted_for',
        'assert_staged_facts_are_not_quarantined',
        'assert_order_line_items_have_their_order',
    ] -%}
    {%- set passed = [] -%}
    {%- for result in results if execute -%}
        {%- if result.node.name in checks and result.status == 'pass' -%}
            {%- do passed.append(result.node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if passed | unique | list | length == checks | length -%}
        {%- call statement('hotdash_record_accounting', auto_begin=true) -%}
            update {{ source('ops', 'facts_triage_batches') }}
            set
                accounted_at = coalesce(accounted_at, now()),
                accounted_through = {{ triage_settled_through() }}
                {%- if not accounting_scope_new() %},
                all_checked_at = now()
                {%- endif %}
            where
                accounted_at is null
                or judge_batch = (
                    select max(latest.judge_batch) from {{ source('ops', 'facts_triage_batches') }} as latest
                )
        {%- endcall -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
{%- endmacro %}

{#-
    The judge's query (facts_triage): one select per staged topic (judge_groups), each reading
    its facts' payloads into a record of the fields its topic reads, in a union. The batch and
    the clock are in each select: a relation several selects read would be computed apart from
    the parallel workers.
-#}
{% macro triage_judge_groups() -%}
    {%- for topics, fields in judge_groups() %}
    select
        facts.id as fact_id,
        facts.shop_domain,
        facts.topic,
        {{ quarantine_reason('facts.topic', 'jsonb_typeof(facts.value)', 'payload', 'facts.shop_domain', topics) }} as reason,
        {{ triage_warnings('facts.topic', 'payload', 'clock', topics) }} as warnings,
        facts.created_at as fact_created_at,
        batch.judge_batch,
        {{ triage_entity_id('facts.topic', 'payload', topics) }} as entity_id,
        {{ triage_location_id('facts.topic', 'payload', topics) }} as location_id,
        {{ triage_version_text('facts.topic', 'payload', topics) }} as version_text
    from (
        select
            facts.id,
            facts.shop_domain,
            facts.topic,
            facts.value,
            facts.created_at
        {{ triage_facts_to_judge(topics) }}
    ) as facts
    cross join lateral {{ json_record('facts.value', 'payload', fields) }}
    cross join (select {{ triage_current_batch() }} as judge_batch) as batch
    cross join ({{ triage_clock() }}) as clock
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
