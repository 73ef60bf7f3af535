{#-
    Intermediate models built incrementally: each build recomputes only the rows whose inputs
    changed since the model was last built, and the result equals a full rebuild.

    The model's state (ops.incremental_state, one row per model, written by the post-hook in the
    model's own transaction) holds:
    - per source model, the highest judge batch it had read (`cursors`). A staging model's new
      rows always carry a batch past its highest (macros/staging.sql), so the rows past the cursor
      are what changed, whichever models a build selected;
    - the as-of date the rows were computed for. Rows dated between the old and the new as-of date
      (either way round) enter or leave: they count as changed;
    - a fingerprint of the code upstream (models, seeds, macros) and of the vars the model reads.
      Any other value (a deploy, another var, no state yet) recomputes every row, as a full
      refresh does.

    `sources`: one entry per source model: `model` (its name), `batch` (its judge batch column) and
    optionally `dated` (a timestamp column whose reporting date, against the as-of dates, makes a
    row changed). Each source has the model's `keys` columns. `settings`: the names of the vars
    the model reads besides as_of_date.

    A model keyed on customers (shop_domain, customer_id) is built from an incremental order model
    through the orders that model recomputed (`'changes': true` on the source): an order model
    configured with `log_changes` writes, in its pre-hook, each order it recomputes and the customer
    its rows had before to ops.order_changes (one row with no order when it recomputes every row);
    the customer model's cursor on it is the highest seq it read. The changed customers are those
    the logged orders had before and have now, so an order moved to another customer recomputes
    both. `window` ({'date', 'days', 'where'}) adds the customers with a row whose date crosses
    the edge of a window of that many days ending on the as-of date, when the as-of date moves.
-#}

{#- The model's key in ops.incremental_state (and a view's in ops.view_state): schema.table. -#}
{% macro incremental_state_key() -%}
    {{ return(this.schema ~ '.' ~ this.identifier) }}
{%- endmacro %}

{#- md5 of the code the rows come from (the file of the model and of every model and seed upstream
    of it, and every macro they call) and of the values of the vars it reads: a deploy that
    changes any of them, or another var, recomputes every row. -#}
{% macro incremental_fingerprint(settings) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set nodes = [model.unique_id] -%}
    {%- set macros = [] -%}
    {#- Breadth first: a loop over a list sees what is appended to it while it runs. -#}
    {%- for unique_id in nodes -%}
        {%- set node = graph.nodes.get(unique_id) or {} -%}
        {%- for parent in (node.get('depends_on') or {}).get('nodes') or [] -%}
            {%- if parent not in nodes and parent in graph.nodes -%}
                {%- do nodes.append(parent) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for called in (node.get('depends_on') or {}).get('macros') or [] -%}
            {%- if called not in macros -%}{%- do macros.append(called) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for unique_id in macros -%}
        {%- for called in incremental_macro_node(unique_id).depends_on.macros -%}
            {%- if called not in macros -%}{%- do macros.append(called) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set parts = [] -%}
    {%- for unique_id in nodes | sort -%}
        {%- do parts.append(unique_id ~ ':' ~ ((graph.nodes[unique_id].get('checksum') or {}).get('checksum') or '')) -%}
    {%- endfor -%}
    {%- for unique_id in macros | sort -%}
        {%- do parts.append(unique_id ~ ':' ~ local_md5(incremental_macro_node(unique_id).macro_sql)) -%}
    {%- endfor -%}
    {%- set values = {} -%}
    {%- for name in settings -%}
        {%- do values.update({name: var(name)}) -%}
    {%- endfor -%}
    {%- do parts.append(tojson(values, sort_keys=true)) -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}

{#- The parsed macro of a unique id (macro.package.name), as the model's context holds it. -#}
{% macro incremental_macro_node(unique_id) -%}
    {%- set parts = unique_id.split('.') -%}
    {%- set found = context.get(parts[1], {}).get(parts[2]) if parts[1] in context else none -%}
    {%- set found = found or context.get(parts[2]) -%}
    {{ return(found.macro) }}
{%- endmacro %}

{#- The state the rows in the table were built with, as {'as_of': 'YYYY-MM-DD', 'cursors': {}},
    or none: not an incremental run, no state (or no state table yet: dbt's on-run-start makes it),
    or another fingerprint. Without a state, every row is recomputed. -#}
{% macro incremental_state(settings, sources=[]) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state_table = load_relation(source('ops', 'incremental_state')) -%}
    {%- if state_table is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select as_of_date::text, cursors::text from " ~ state_table
        ~ " where model = " ~ dbt.string_literal(incremental_state_key())
        ~ " and fingerprint = " ~ dbt.string_literal(incremental_fingerprint(settings))
    ) -%}
    {%- if found.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state = {'as_of': found.rows[0][0], 'cursors': fromjson(found.rows[0][1])} -%}
    {%- for source_model in sources if source_model.get('changes') -%}
        {#- The order model recomputed every row since: so does this one. -#}
        {%- set everything = run_query(
            "select exists (select from " ~ source('ops', 'order_changes')
            ~ " where model = " ~ dbt.string_literal(order_changes_key(source_model.model))
            ~ " and seq > " ~ state.cursors.get(source_model.model, 0) ~ " and order_id is null)"
        ) -%}
        {%- if everything.rows[0][0] -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(state) }}
{%- endmacro %}

{#- The name an order model's rows carry in ops.order_changes: its table, schema.table. -#}
{% macro order_changes_key(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {{ return(relation.schema ~ '.' ~ relation.identifier) }}
{%- endmacro %}

{#- The customers (shop_domain, customer_id) of the orders an order model recomputed past the
    cursor: the customer each had before (logged) and the one it has now. -#}
{% macro changed_customers(source_model, cursor) -%}
    {%- set logged -%}
        select shop_domain, order_id, previous_customer_id
        from {{ source('ops', 'order_changes') }}
        where model = {{ dbt.string_literal(order_changes_key(source_model.model)) }} and seq > {{ cursor }}
    {%- endset %}
    select shop_domain, previous_customer_id as customer_id
    from ({{ logged }}) as logged
    where previous_customer_id is not null
    union
    select shop_domain, customer_id
    from {{ ref(source_model.model) }}
    where
        customer_id is not null
        and (shop_domain, order_id) in (select shop_domain, order_id from ({{ logged }}) as logged)
{%- endmacro %}

{#- The keys of the rows whose inputs changed since `state` (a union, no duplicates).
    `also_changed`: the name of a macro whose query gives more changed keys (the model's own
    rule, e.g. order_lines_catalog_changed). The pre-hook (delete_changed_rows) runs it once,
    into a temporary table of the model's transaction (also_changed_keys), and leaves those keys
    alone: they must still have rows, which delete+insert replaces (deleted first, the rule would
    no longer find them); the model's query reads the table.
    `indexed` (the pre-hook's): a dated source's rows through dated_crossed_by_as_of, in a select
    of its own, each select served by an index. The model's query keeps them in one select with
    an OR, which reads the table: the index's estimate of the new batch comes from statistics
    that predate it (a few rows for thousands), and on it the order lines' plan read the refunds
    once per line (1.4 s at 1M facts, against 0.1-0.25 s). -#}
{% macro changed_keys(keys, sources, state, also_changed=none, indexed=false) -%}
    {%- for source_model in sources %}
    {% if not loop.first %}union{% endif %}
    {%- if source_model.get('changes') %}
    {%- if keys != ['shop_domain', 'customer_id'] -%}
        {{ exceptions.raise_compiler_error(
            "A source with 'changes' gives customers: the model's keys must be shop_domain, customer_id, not "
            ~ keys | join(', ')
        ) }}
    {%- endif %}
    {{ changed_customers(source_model, state.cursors.get(source_model.model, 0)) }}
    {%- set window = source_model.get('window') %}
    {%- if window %}
    union
    select shop_domain, customer_id
    from {{ ref(source_model.model) }}
    where
        customer_id is not null
        and {{ window.get('where', 'true') }}
        and {{ crossed_by_as_of(window.date, state, window.days) }}
    {%- endif %}
    {%- else %}
    select {{ keys | join(', ') }}
    from {{ ref(source_model.model) }}
    where {{ source_model.batch }} > {{ state.cursors.get(source_model.model, 0) }}
    {%- if source_model.get('dated') and indexed %}
    union
    select {{ keys | join(', ') }}
    from {{ ref(source_model.model) }}
    where {{ dated_crossed_by_as_of(source_model.dated, state) }}
    {%- elif source_model.get('dated') %}
        or {{ crossed_by_as_of(reporting_date(source_model.dated), state) }}
    {%- endif %}
    {%- endif %}
    {%- endfor %}
    {%- if also_changed %}
    union
    select {{ keys | join(', ') }} from {{ also_changed_keys() }}
    {%- endif %}
{%- endmacro %}

{#- The temporary table of the keys the model's also_changed rule gave, in its pre-hook: dropped
    when the model's transaction ends. -#}
{% macro also_changed_keys() -%}
    pg_temp.hotdash_also_changed_keys
{%- endmacro %}

{#- A date the as-of date, less `lag` days, passes as it moves from the state's to this build's
    (either way): after the earlier, up to the later. With no lag, a row dated there enters or
    leaves the rows up to the as-of date; with a lag of N days, the window of N days ending on
    the as-of date. -#}
{% macro crossed_by_as_of(date_expr, state, lag=0) -%}
    {{ date_expr }}
    between least('{{ state.as_of }}'::date, {{ as_of_date() }}) + {{ 1 - lag }}
    and greatest('{{ state.as_of }}'::date, {{ as_of_date() }}) - {{ lag }}
{%- endmacro %}

{#- A timestamp whose reporting date the as-of date passes as it moves (crossed_by_as_of), read
    through an index on the timestamp: its range, a day wider on each side than the dates' (a
    time zone's offset changes by less than a day), then the dates themselves. Two selects of a
    union rather than an OR with the batch: each reads its own index, where the OR read the whole
    table (stg_shopify__orders at 1M facts: 40 ms, twice a night in the order models' pre-hooks). -#}
{% macro dated_crossed_by_as_of(ts, state) -%}
    {%- set zone = var('reporting_timezone') -%}
    {{ ts }} >= (least('{{ state.as_of }}'::date, {{ as_of_date() }})::timestamp at time zone '{{ zone }}')
    and {{ ts }} < ((greatest('{{ state.as_of }}'::date, {{ as_of_date() }}) + 2)::timestamp at time zone '{{ zone }}')
    and {{ crossed_by_as_of(reporting_date(ts), state) }}
{%- endmacro %}

{#- In a model that names the changed keys in a CTE `changed` (changed_keys): the row read is
    among them (always true without a state). -#}
{% macro in_changed(keys, state) -%}
    {%- if state is none -%}
        true
    {%- else -%}
        ({{ keys | join(', ') }}) in (select {{ keys | join(', ') }} from changed)
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: the rows to recompute go first, in the transaction that inserts them again
    (delete+insert alone deletes only the keys the new rows carry: an order now dated after the
    as-of date would stay). Without a state, every row goes. -#}
{% macro delete_changed_rows(keys, sources, settings, log_changes=false, also_changed=none) -%}
    {%- set state = incremental_state(settings, sources) if is_incremental() else none -%}
    {%- if also_changed and state is not none -%}
        {#- The rule once: its keys for the log below and for the model's query (changed_keys),
            with statistics, the query's plan depending on how many there are. -#}
        create temporary table {{ also_changed_keys() }} on commit drop as
        {{ context[also_changed]() }};
        analyze {{ also_changed_keys() }};
    {% endif -%}
    {%- if log_changes and state is not none -%}
        {#- Every changed order (also_changed's too, which dbt's delete+insert replaces), with the
            customer its rows had: one statement, so the log reads the rows before they go. -#}
        with own as (
            {{ changed_keys(keys, sources, state, indexed=true) }}
        ),

        changed as (
            select {{ keys | join(', ') }} from own
            {%- if also_changed %}
            union
            select {{ keys | join(', ') }} from {{ also_changed_keys() }}
            {%- endif %}
        ),

        gone as (
            delete from {{ this }}
            where ({{ keys | join(', ') }}) in (select {{ keys | join(', ') }} from own)
            returning shop_domain, order_id, customer_id
        )

        insert into {{ source('ops', 'order_changes') }} (model, shop_domain, order_id, previous_customer_id)
        select distinct
            {{ dbt.string_literal(incremental_state_key()) }},
            changed.shop_domain,
            changed.order_id,
            gone.customer_id
        from changed
        left join gone on changed.shop_domain = gone.shop_domain and changed.order_id = gone.order_id
    {%- elif log_changes -%}
        {#- Every row recomputed (a first build, a full refresh, new code or settings). -#}
        {%- if is_incremental() -%}
        with gone as (delete from {{ this }})
        {%- endif %}
        insert into {{ source('ops', 'order_changes') }} (model)
        values ({{ dbt.string_literal(incremental_state_key()) }})
    {%- elif is_incremental() -%}
        delete from {{ this }}
        {%- if state is not none %}
        where ({{ keys | join(', ') }}) in ({{ changed_keys(keys, sources, state, indexed=true) }}
        )
        {%- endif %}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The columns of an index that finds rows by their shop and an id (a row's key, a customer's, a
    variant's), given shop first: the id first and the shop's text second. A build sorts every
    row on the index's columns; on two shops' rows most comparisons of (shop_domain, order_id)
    compare the shop's text and then the integer, where (order_id, shop_domain) ends at the
    integer: at 1M facts each index of the order tables built in 0.06 to 0.22 s instead of 0.13
    to 0.32 s (psql, the same rows). A lookup by the shop and the id (and a range of a third
    column) reads either order the same. Marts, and staging's dated indexes, keep the shop first:
    a tile reads one shop's rows in the order of the next column. -#}
{% macro key_index(columns) -%}
    {%- if columns | length > 1 and columns[0] == 'shop_domain' -%}
        {{ return([columns[1], columns[0]] + columns[2:]) }}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}

{#- Post-hook of an incremental model: each index of its config (`indexes`, plain columns) that
    its table lacks, created, and each index dbt created for a config that no longer names it
    dropped. dbt creates a table's indexes only with the table, so an index added to an
    incremental model's config would otherwise wait for a full refresh, and a query written for
    it (a lateral read per variant, a range of dates) would read the whole table meanwhile, once
    per row that calls it; an index taken out of the config (or whose columns changed order)
    would be kept up by every night's inserts. An index counts as there when one has the same key
    columns in the same order (and is unique, if the config's is); one that is not is created as
    dbt creates the table's indexes (get_create_index_sql: its name, its `type`). An index is
    dropped only when dbt named it (32 hex digits: get_create_index_sql), no constraint owns it,
    and the config's indexes are all plain columns (so each can be matched): an index made by
    hand, under another name, stays. -#}
{% macro ensure_indexes() -%}
    {%- set configured = config.get('indexes') or [] -%}
    {%- set wanted = [] -%}
    {%- for index in configured -%}
        {%- set plain = namespace(columns=(index.get('columns') or []) | length > 0) -%}
        {%- for column in index.get('columns') or [] -%}
            {%- if not modules.re.fullmatch('[a-z_][a-z0-9_]*', column) -%}
                {%- set plain.columns = false -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if plain.columns -%}
            {%- do wanted.append(index) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if wanted -%}
        do $ensure_indexes$
        declare
            stale record;
        begin
        {%- if wanted | length == configured | length %}
            for stale in
                select format('%I.%I', namespaces.nspname, classes.relname) as name
                from pg_index as indexes
                inner join pg_class as classes on indexes.indexrelid = classes.oid
                inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
                cross join lateral (select {{ _index_columns('indexes') }} as columns) as keys
                where
                    indexes.indrelid = {{ dbt.string_literal(this.render()) }}::regclass
                    and classes.relname ~ '^[0-9a-f]{32}$'
                    and not exists (
                        select from pg_constraint as constraints
                        where constraints.conindid = indexes.indexrelid
                    )
                    and (
                        indexes.indexprs is not null
                        or indexes.indpred is not null
                        or not (
                        {%- for index in wanted %}
                            {% if not loop.first %}or {% endif %}(keys.columns = {{ _columns_array(index.columns) }}
                            {%- if index.get('unique') %} and indexes.indisunique{% endif %})
                        {%- endfor %}
                        )
                    )
            loop
                execute 'drop index ' || stale.name;
            end loop;
        {%- endif %}
        {%- for index in wanted %}
            if not exists (
                select from pg_index as indexes
                where
                    indexes.indrelid = {{ dbt.string_literal(this.render()) }}::regclass
                    and indexes.indexprs is null
                    and indexes.indpred is null
                    {%- if index.get('unique') %}
                    and indexes.indisunique
                    {%- endif %}
                    and {{ _index_columns('indexes') }} = {{ _columns_array(index.columns) }}
            ) then
                {{ get_create_index_sql(this, index) }};
            end if;
        {%- endfor %}
        end
        $ensure_indexes$
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The key columns of the pg_index row `alias`, in their order, as text[]. -#}
{% macro _index_columns(alias) -%}
    array(
        select attributes.attname::text
        from unnest({{ alias }}.indkey::int2[]) with ordinality as keys (attnum, position)
        inner join pg_attribute as attributes
            on attributes.attrelid = {{ alias }}.indrelid and attributes.attnum = keys.attnum
        order by keys.position
    )
{%- endmacro %}

{#- `columns`, a config index's column names, as a text[] literal to compare with _index_columns. -#}
{% macro _columns_array(columns) -%}
    array[{% for column in columns %}{{ dbt.string_literal(column) }}{% if not loop.last %}, {% endif %}{% endfor %}]::text[]
{%- endmacro %}

{#- Post-hook: the state the rows now hold, in the model's transaction. With `also_changed` (a
    rule's macro name) and a macro <also_changed>_inputs: what the rule reads, as it is now, under
    the rule's name (also_changed_inputs_saved). -#}
{% macro save_incremental_state(sources, settings, also_changed=none) -%}
    insert into {{ source('ops', 'incremental_state') }} (model, as_of_date, fingerprint, cursors)
    select
        {{ dbt.string_literal(incremental_state_key()) }},
        {{ as_of_date() }},
        {{ dbt.string_literal(incremental_fingerprint(settings)) }},
        jsonb_build_object(
            {%- for source_model in sources %}
            '{{ source_model.model }}',
            {%- if source_model.get('changes') %}
            (
                select coalesce(max(seq), 0) from {{ source('ops', 'order_changes') }}
                where model = {{ dbt.string_literal(order_changes_key(source_model.model)) }}
            )
            {%- else %}
            (select coalesce(max({{ source_model.batch }}), 0) from {{ ref(source_model.model) }})
            {%- endif %}
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
            {%- if also_changed and (also_changed ~ '_inputs') in context %},
            '{{ also_changed }}', ({{ context[also_changed ~ '_inputs']() }})
            {%- endif %}
        )
    on conflict (model) do update set
        as_of_date = excluded.as_of_date,
        fingerprint = excluded.fingerprint,
        cursors = excluded.cursors,
        built_at = now()
{%- endmacro %}

{#- Post-hook after save_incremental_state: the rows of ops.order_changes that every reader has
    read (up to the lowest cursor any model's state holds on the order model), in the reader's
    transaction. -#}
{% macro prune_order_changes(sources) -%}
    {%- for source_model in sources if source_model.get('changes') %}
    {% if not loop.first %};{% endif %}
    delete from {{ source('ops', 'order_changes') }}
    where
        model = {{ dbt.string_literal(order_changes_key(source_model.model)) }}
        and seq <= (
            select min((cursors ->> '{{ source_model.model }}')::bigint)
            from {{ source('ops', 'incremental_state') }}
            where cursors ->> '{{ source_model.model }}' is not null
        )
    {%- else %}
    select 1
    {%- endfor %}
{%- endmacro %}

{#- The config of an incremental intermediate model (see above): delete+insert on `keys`, the
    changed rows deleted first (and, with `log_changes`, logged to ops.order_changes), the state
    saved after and the log rows every reader has read deleted, a unique index on each row's key
    (`row_key`, the keys by default). A change of columns is applied to the table (every row is
    then recomputed: the code changed). -#}
{% macro intermediate_incremental_config(
    keys, sources, settings, row_key=none, indexes=[], log_changes=false, also_changed=none
) -%}
    {%- set args = (keys | tojson) ~ ", " ~ (sources | tojson) ~ ", " ~ (settings | tojson)
        ~ ", " ~ (log_changes | tojson) ~ ", " ~ ((also_changed or '') | tojson) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=keys,
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_changed_rows(" ~ args ~ ") }}",
        post_hook=[
            "{{ ensure_indexes() }}",
            "{{ save_incremental_state(" ~ (sources | tojson) ~ ", " ~ (settings | tojson)
                ~ ", " ~ ((also_changed or '') | tojson) ~ ") }}",
            "{{ prune_order_changes(" ~ (sources | tojson) ~ ") }}",
        ],
        indexes=[{'columns': key_index(row_key or keys), 'unique': true}] + indexes,
    ) }}
{%- endmacro %}

{#- The sources of the order tables built incrementally (int_shopify__order_net_revenue and
    int_shopify__order_lines), keyed on shop_domain and order_id: the orders and their refunds,
    dated by their creation, and the items of each. -#}
{% macro order_sources() -%}
    {{ return([
        {'model': 'stg_shopify__orders', 'batch': 'judge_batch', 'dated': 'created_at'},
        {'model': 'stg_shopify__order_line_items', 'batch': 'parent_judge_batch'},
        {'model': 'stg_shopify__refunds', 'batch': 'judge_batch', 'dated': 'created_at'},
        {'model': 'stg_shopify__refund_line_items', 'batch': 'parent_judge_batch'},
    ]) }}
{%- endmacro %}

{#- int_shopify__order_lines: the orders with a line whose catalog values (category, and the
    variant's product when the line names none) are no longer what int_shopify__product_variants
    gives: a product's type, a variant's product or the category tree changed. Compares every
    line to the catalog, and only when the catalog's categories and products are not those the
    last build saved (order_lines_catalog_changed_inputs): every line was computed from those,
    so none can differ from them, and a nightly catalog update (prices, stock) leaves them alone.
    (At 1M facts the comparison of 240,000 lines took 0.12-0.15 s.) -#}
{% macro order_lines_catalog_changed() -%}
    select lines.shop_domain, lines.order_id
    from {{ this }} as lines
    left join {{ ref('int_shopify__product_variants') }} as product_variants
        on
            lines.shop_domain = product_variants.shop_domain
            and lines.variant_id = product_variants.variant_id
    where (
        lines.category_l1 is distinct from coalesce(product_variants.category_l1, 'Other')
        or (
            lines.product_id is distinct from product_variants.product_id
            and exists (
                select from {{ ref('stg_shopify__order_line_items') }} as line_items
                where
                    line_items.shop_domain = lines.shop_domain
                    and line_items.order_id = lines.order_id
                    and line_items.position = lines.position
                    and line_items.product_id is null
            )
        )
    )
    and ({{ order_lines_catalog_changed_inputs() }})
    is distinct from ({{ also_changed_inputs_saved('order_lines_catalog_changed') }})
{%- endmacro %}

{#- What order_lines_catalog_changed reads of the catalog: md5 of every variant's category and
    product, saved with the model's state (save_incremental_state). -#}
{% macro order_lines_catalog_changed_inputs() -%}
    select md5(coalesce(jsonb_agg(
        jsonb_build_array(shop_domain, variant_id, category_l1, product_id)
        order by shop_domain, variant_id
    )::text, ''))
    from {{ ref('int_shopify__product_variants') }}
{%- endmacro %}

{#- What an also_changed rule read when the model's state was saved (<rule>_inputs): null when
    nothing was saved. -#}
{% macro also_changed_inputs_saved(rule) -%}
    select cursors ->> {{ dbt.string_literal(rule) }}
    from {{ source('ops', 'incremental_state') }}
    where model = {{ dbt.string_literal(incremental_state_key()) }}
{%- endmacro %}
