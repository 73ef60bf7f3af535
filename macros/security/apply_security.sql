{#-
    Grants and row-level security, re-applied at the end of every dbt command that builds
    (on-run-end in dbt_project.yml) and on demand (`dbt run-operation apply_security`,
    `hotdash grants`). dbt rebuilds a table as a new relation, which has no grants and no
    policies: until this runs, only its owner can read it, so a rebuild never exposes rows.
    The dbt var apply_security: false switches it off for a target whose user cannot manage roles.
-#}
{% macro apply_security() -%}
    {%- if not execute or flags.WHICH not in ['build', 'run', 'seed', 'snapshot', 'test', 'retry', 'run-operation'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- if not var('apply_security', true) -%}
        {{ log('hotdash security: skipped (dbt var apply_security is false)', info=true) }}
        {{ return('') }}
    {%- endif -%}
    {%- do hotdash_ensure_roles() -%}
    {%- do hotdash_session_shop_function() -%}
    {%- set cfg = hotdash_security_config() -%}
    {%- set facts_owner = run_query(
        "select pg_get_userbyid(classes.relowner), pg_has_role(current_user, classes.relowner, 'usage')"
        ~ " from pg_class as classes inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid"
        ~ " where namespaces.nspname = " ~ hotdash_literal(cfg['facts_schema'])
        ~ " and classes.relname = " ~ hotdash_literal(cfg['facts_table'])
    ).rows -%}
    {%- if facts_owner | length == 0 -%}
        {{ log('hotdash security: no table ' ~ cfg['facts_schema'] ~ '.' ~ cfg['facts_table'] ~ '; loader grants skipped', info=true) }}
    {%- elif not facts_owner[0][1] -%}
        {{ log(
            'hotdash security: WARNING ' ~ cfg['facts_schema'] ~ '.' ~ cfg['facts_table'] ~ ' belongs to '
            ~ facts_owner[0][0] ~ ', so this user cannot grant on it; its owner must run: grant insert on '
            ~ cfg['facts_schema'] ~ '.' ~ cfg['facts_table'] ~ ' to ' ~ cfg['roles']['loader'] ~ ';',
            info=true
        ) }}
    {%- endif -%}
    {%- set statements = run_query(hotdash_security_statements_query()) -%}
    {%- set sql = statements.columns['sql'].values() | reject('none') | list -%}
    {%- for row in statements.rows if row['step'] == 0 -%}
        {{ log(
            'hotdash security: WARNING ' ~ row['relation'] ~ ' belongs to another role; left as it is'
            ~ ' (verification reports it if it is wrong)', info=true
        ) }}
    {%- endfor -%}
    {%- call statement('hotdash_apply_security', auto_begin=true) -%}
        {{ sql | join(';\n') }};
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {%- set secured = [] -%}
    {%- for row in statements.rows if row['step'] == 5 and row['sub'] == 1 -%}
        {%- do secured.append(row['relation']) -%}
    {%- endfor -%}
    {{ log(
        'hotdash security: applied ' ~ (sql | length) ~ ' statements; row-level security forced on '
        ~ (secured | length) ~ ' mart table(s)', info=true
    ) }}
    {{ return('') }}
{%- endmacro %}
