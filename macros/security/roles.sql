{#-
    The four NOLOGIN group roles, created when missing. Roles are cluster-wide: several databases
    on one server share them, so creation tolerates another session creating the same role at
    the same moment. Creating a role needs CREATEROLE; a user without it gets a message that says
    what to run instead, or how to switch the security step off for that target.
-#}
{% macro hotdash_ensure_roles(roles=none) -%}
    {%- set roles = roles if roles is not none else (hotdash_security_config()['roles'].values() | list) -%}
    {%- set missing = run_query(
        "select wanted.name from unnest(" ~ hotdash_literal_array(roles) ~ ") as wanted (name)"
        ~ " where not exists (select 1 from pg_roles where pg_roles.rolname = wanted.name)"
        ~ " order by wanted.name"
    ).columns[0].values() | list -%}
    {%- if missing | length == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set user_row = run_query(
        "select current_user::text, rolsuper or rolcreaterole from pg_roles where rolname = current_user"
    ).rows[0] -%}
    {%- if not user_row[1] -%}
        {%- set create_sql = [] -%}
        {%- for role in missing -%}
            {%- do create_sql.append('create role ' ~ role ~ ' nologin;') -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            "hotdash security: the role(s) " ~ (missing | join(', ')) ~ " do not exist, and the database user "
            ~ user_row[0] ~ " cannot create roles (it lacks CREATEROLE). Ask an administrator to run `"
            ~ (create_sql | join(' ')) ~ "` once, then build again; or set the dbt var apply_security: false"
            ~ " for this target (e.g. --vars '{apply_security: false}') and manage grants yourself."
        ) }}
    {%- endif -%}
    {%- call statement('hotdash_create_roles', auto_begin=true) -%}
        {%- for role in missing %}
        do $hotdash$ begin
            execute format('create role %I nologin', {{ hotdash_literal(role) }});
        exception when duplicate_object or unique_violation then null;
        end $hotdash$;
        {%- endfor %}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ log("hotdash security: created role(s) " ~ (missing | join(', ')), info=true) }}
    {{ return(missing) }}
{%- endmacro %}
