{#-
    marts.hotdash_session_shop(): the shop a session may read, for the marts' shop policy.
    - A login bound to a shop (ops.shop_logins, `hotdash grants login ...`) gets that shop,
      whatever it sets: the mapping is keyed by session_user, which SET ROLE and RESET ROLE do
      not change, and SET SESSION AUTHORIZATION needs a superuser. A login bound to two shops
      (drift) gets none.
    - A login of the AI role that is not bound gets no shop: the AI must be bound.
    - Any other session (the dashboard's server, one login for every shop) gets the setting
      app.shop_domain it chose; unset or empty: none.
    SECURITY DEFINER (it runs as its owner, the dbt user, who reads ops.shop_logins; readers
    cannot), with a fixed search_path. Only the operator and AI roles may execute it.
-#}
{% macro hotdash_session_shop_function() -%}
    {%- set cfg = hotdash_security_config() -%}
    {%- set r = cfg['roles'] -%}
    {%- call statement('hotdash_session_shop', auto_begin=true) -%}
        select pg_advisory_xact_lock(hashtext('hotdash.ops_ddl'));
        {{ hotdash_ops_ddl() }}
        create schema if not exists {{ cfg['marts_schema'] }};
        create or replace function {{ cfg['marts_schema'] }}.{{ cfg['session_shop_function'] }}()
        returns text
        language sql
        stable
        security definer
        set search_path = pg_catalog, pg_temp
        as $hotdash$
            select case
                when exists (select 1 from ops.shop_logins as logins where logins.login = session_user)
                    then (
                        select case when count(*) = 1 then min(logins.shop_domain) end
                        from ops.shop_logins as logins
                        where logins.login = session_user
                    )
                when
                    pg_has_role(session_user, {{ hotdash_literal(r['ai']) }}, 'member')
                    and not (select roles.rolsuper from pg_roles as roles where roles.rolname = session_user)
                    then null
                else nullif(current_setting({{ hotdash_literal(cfg['shop_setting']) }}, true), '')
            end
        $hotdash$;
        revoke all on function {{ cfg['marts_schema'] }}.{{ cfg['session_shop_function'] }}() from public;
        grant execute on function {{ cfg['marts_schema'] }}.{{ cfg['session_shop_function'] }}()
            to {{ r['operator'] }}, {{ r['ai'] }};
    {%- endcall -%}
    {%- do adapter.commit() -%}
{%- endmacro %}
