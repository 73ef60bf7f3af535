{#-
    Run before every dbt command that builds (on-run-start in dbt_project.yml):
    1. the facts table (when missing, in schema public only: a facts_schema that names a schema
       without the table is a mistake to fail on, not an empty table to build from), the ops
       tables and marts.alerts, from macros/setup/ddl.sql.
    2. one build at a time: a build holds the advisory lock hotdash_build_lock_key() on a session
       of its own for as long as it runs (`hotdash build` does; the lock dies with its session,
       also on kill -9). A dbt command of this project started while another build holds it
       stops here, naming that build; `hotdash build` passes its own run id in the environment
       variable HOTDASH_BUILD_RUN_ID so that its own dbt steps go on. dbt itself opens a session
       per node and cannot hold the lock across its run: plain dbt checks it, `hotdash build`
       holds it (README "On a live database").
    3. the security roles, when missing, and marts.hotdash_session_shop(): every model's
       post-hook grants to them, and the marts' shop policy calls it.
-#}
{% macro hotdash_on_run_start() -%}
    {%- if not execute or flags.WHICH not in ['build', 'run', 'seed', 'snapshot', 'test', 'retry'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set facts_relation = var('facts_schema', 'public') ~ '.facts' -%}
    {%- set facts_missing = run_query(
        "select to_regclass(" ~ hotdash_literal(facts_relation) ~ ") is null"
    ).columns[0].values()[0] -%}
    {%- call statement('hotdash_setup', auto_begin=true) -%}
        select pg_advisory_xact_lock(hashtext('hotdash.ops_ddl'));
        {% if facts_missing and var('facts_schema', 'public') == 'public' %}{{ hotdash_facts_ddl() }}{% endif %}
        {{ hotdash_ops_ddl() }}
        {{ hotdash_alerts_ddl() }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {%- do hotdash_require_build_lock() -%}
    {%- if var('apply_security', true) -%}
        {%- do hotdash_ensure_roles() -%}
        {%- do hotdash_session_shop_function() -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- The advisory lock a build holds while it runs: two int4 keys ('hotd', 1), per database. -#}
{% macro hotdash_build_lock_key() -%}
    1752134756, 1
{%- endmacro %}

{#-
    Stop when a build other than the caller's own holds the build lock, naming it: its run id,
    start, process and host, and the step it is in (from ops.build_runs).
-#}
{% macro hotdash_require_build_lock() -%}
    {%- set own_run = env_var('HOTDASH_BUILD_RUN_ID', '') -%}
    {%- set holders = run_query(
        "select locks.pid, coalesce(runs.run_id::text, '') as run_id,"
        ~ " coalesce(to_char(runs.started_at, 'YYYY-MM-DD HH24:MI:SS TZ'), '?') as started_at,"
        ~ " coalesce(runs.client_pid::text, '?') as client_pid,"
        ~ " coalesce(runs.client_host, '?') as client_host,"
        ~ " coalesce(runs.current_step, '?') as current_step"
        ~ " from pg_locks as locks"
        ~ " left join ops.build_runs as runs on runs.backend_pid = locks.pid and runs.status = 'running'"
        ~ " where locks.locktype = 'advisory' and locks.granted"
        ~ " and locks.database = (select oid from pg_database where datname = current_database())"
        ~ " and (locks.classid, locks.objid, locks.objsubid) = (" ~ hotdash_build_lock_key() ~ ", 2)"
    ).rows -%}
    {%- for holder in holders if holder['run_id'] != own_run or own_run == '' -%}
        {{ exceptions.raise_compiler_error(
            "hotdash: another build is running on this database: run " ~ (holder['run_id'] or '?')
            ~ ", started " ~ holder['started_at'] ~ " by pid " ~ holder['client_pid'] ~ " on "
            ~ holder['client_host'] ~ ", step " ~ holder['current_step'] ~ " (database session "
            ~ holder['pid'] ~ "). Wait for it (`hotdash build --wait`), or see `hotdash status`."
        ) }}
    {%- endfor -%}
{%- endmacro %}
