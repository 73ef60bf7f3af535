{#-
    Every fact of a staged topic, judged once: reason is null for a good payload, else the first
    rule it breaks; warnings lists what is staged but suspicious (a timestamp in the future, an
    unknown financial status). Staging reads the good ones, facts_quarantine shows the others, and
    the source contracts count both. The cursor is exact: every fact past it gets a row, and a
    fact stored while a build runs waits for the next.
-#}
{{
    config(
        materialized='incremental',
        schema='ops',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['fact_id'], 'unique': true},
            {'columns': ['topic', 'fact_id']},
        ],
    )
}}

with

facts as (
    select
        facts.id,
        facts.shop_domain,
        facts.topic,
        facts.value,
        facts.created_at
    from {{ source('app', 'facts') }} as facts
    where
        facts.topic in ('{{ staged_topics() | join("', '") }}')
        and facts.id > {{ incremental_cursor('fact_id') }}
),

final as (
    select
        id as fact_id,
        shop_domain,
        topic,
        {{ quarantine_reason('topic', 'value') }} as reason,
        {{ triage_warnings('topic', 'value') }} as warnings,
        created_at as fact_created_at
    from facts
)

select * from final
