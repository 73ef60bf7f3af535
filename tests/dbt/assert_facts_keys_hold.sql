-- The facts table's keys as the judge and staging read them: id unique and not null, shop_domain
-- and topic not null. The table's own constraints guarantee them (macros/setup/ddl.sql: a
-- primary key, not null), and reading the catalog costs nothing at any size, so the rows are
-- read only when a constraint is missing (an app that made the table its own way).
-- Returns the facts that break a key.

with

constraints as (
    select
        exists(
            select 1
            from pg_index as idx
            inner join pg_attribute as att
                on idx.indrelid = att.attrelid and att.attnum = idx.indkey[0]
            where
                idx.indrelid = to_regclass('{{ source('app', 'facts') }}')
                and idx.indisunique
                and idx.indisvalid
                and idx.indnkeyatts = 1
                and idx.indpred is null
                and att.attname = 'id'
        ) as id_is_unique,
        (
            select count(*) = 3
            from pg_attribute as att
            where
                att.attrelid = to_regclass('{{ source('app', 'facts') }}')
                and att.attname in ('id', 'shop_domain', 'topic')
                and att.attnotnull
        ) as keys_are_not_null
),

duplicate_ids as (
    select
        facts.id,
        'id ' || facts.id || ' is stored ' || count(*) || ' times' as problem
    from {{ source('app', 'facts') }} as facts
    where not (select constraints.id_is_unique from constraints)
    group by facts.id
    having count(*) > 1
),

null_keys as (
    select
        facts.id,
        'a key is null: id, shop_domain or topic' as problem
    from {{ source('app', 'facts') }} as facts
    where
        not (select constraints.keys_are_not_null from constraints)
        and (facts.id is null or facts.shop_domain is null or facts.topic is null)
),

broken as (
    select * from duplicate_ids
    union all
    select * from null_keys
)

select * from broken
