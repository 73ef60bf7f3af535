{#-
    The project's views (the monitoring panels, facts_quarantine, pipeline_health,
    monitor_mart_rows, int_shopify__variant_sales_monthly) as dbt builds them, except that a view
    whose definition is the one the last build created, and which is still there, is left as it
    is: dbt's view materialization replaces every view on every build (a new view renamed over
    the old one, its pre-hooks, grants, documentation and post-hooks again), which takes an
    exclusive lock a reader of the view holds up, for a view that comes out the same.

    What the view was created from (view_fingerprint) is recorded in ops.view_state with its oid
    once it is in place. The view is created again, the way dbt does it, when the fingerprint
    differs (its SQL, a var it reads, its hooks as rendered, its config or documentation, the code
    upstream), when the view is not the one recorded (gone: a table upstream replaced with its
    dependents; or created by anything else), with --full-refresh, and when nothing is recorded.
-#}
{% materialization view, adapter='postgres' -%}
    {%- set fingerprint = view_fingerprint() -%}
    {%- if not should_full_refresh() and view_unchanged(fingerprint) -%}
        {%- do store_result('main', response='view unchanged') -%}
        {{ return({'relations': [this.incorporate(type='view')]}) }}
    {%- endif -%}
    {%- set result = dbt.materialization_view_default() -%}
    {#- Again, as the next build will see it: the security statements of a post-hook read the
        view's grants and columns, which it has now. -#}
    {%- set fingerprint = view_fingerprint() -%}
    {%- call statement('view_state') -%}
        insert into {{ source('ops', 'view_state') }} (relation, fingerprint, relation_oid)
        values (
            {{ dbt.string_literal(incremental_state_key()) }},
            {{ dbt.string_literal(fingerprint) }},
            to_regclass({{ dbt.string_literal(this.render()) }})::oid
        )
        on conflict (relation) do update set
            fingerprint = excluded.fingerprint,
            relation_oid = excluded.relation_oid,
            created_at = now()
    {%- endcall -%}
    {{ adapter.commit() }}
    {{ return(result) }}
{%- endmaterialization %}

{#- md5 of what the view is created from: its compiled SQL, its pre- and post-hooks as they render
    now (the security statements read the database), its config, description and columns, and
    the code upstream with the macros it calls (incremental_fingerprint). -#}
{% macro view_fingerprint() -%}
    {%- set parts = [sql] -%}
    {%- for hook in pre_hooks + post_hooks -%}
        {%- do parts.append(render(hook.get('sql'))) -%}
    {%- endfor -%}
    {%- do parts.append(tojson(model.config, sort_keys=true)) -%}
    {%- do parts.append(model.description or '') -%}
    {%- do parts.append(tojson(model.columns, sort_keys=true)) -%}
    {%- do parts.append(incremental_fingerprint([])) -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}

{#- Whether ops.view_state holds this fingerprint for the view, and the view there is the one it
    recorded (same oid). -#}
{% macro view_unchanged(fingerprint) -%}
    {%- set state = load_relation(source('ops', 'view_state')) -%}
    {%- if state is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select exists (select from " ~ state
        ~ " where relation = " ~ dbt.string_literal(incremental_state_key())
        ~ " and fingerprint = " ~ dbt.string_literal(fingerprint)
        ~ " and relation_oid = to_regclass(" ~ dbt.string_literal(this.render()) ~ ")::oid)"
    ) -%}
    {{ return(found.rows[0][0]) }}
{%- endmacro %}
