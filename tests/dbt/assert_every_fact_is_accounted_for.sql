-- Every fact is staged, quarantined or of an ignored topic; this returns the facts that are none.
-- A fact of a staged topic must be judged (in ops.facts_triage) once it is settled: every fact
-- up to the judge's watermark is (macros/triage.sql); a fact past it may still be committing and
-- is judged by the next build. A fact judged good counts as staged when its entity (the key it
-- describes, read when it was judged: facts_triage.entity_id) is in its staging model: the
-- latest version of the entity is there, and older versions are accounted for by it.
-- One anti-join per topic, so PostgreSQL hashes each staging model once instead of probing it
-- per fact; no payload is read. On an incremental night of `hotdash build` it reads only the
-- batches no check has covered (macros/triage.sql, accounting_from_batch); every fact otherwise.
{{ config(severity='error') }}

{%- set from_batch = accounting_from_batch() %}

with

never_judged as (
    select
        facts.id as fact_id,
        facts.shop_domain,
        facts.topic,
        'never judged' as problem
    from {{ source('app', 'facts') }} as facts
    where
        facts.topic in ('{{ staged_topics() | join("', '") }}')
        and facts.id > {{ accounting_from_fact() }}
        and facts.id <= {{ triage_settled_literal() }}
        and not exists (
            select 1 from {{ ref('facts_triage') }} as triage
            where triage.fact_id = facts.id
        )
),

not_staged as (
    {% for topic, spec in var('topics').items() -%}
        {{ judged_good_not_staged(topic, spec.model, spec['keys'], from_batch) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

unaccounted as (
    select * from never_judged
    union all
    select * from not_staged
)

select * from unaccounted
