-- Quarantine holds facts of staged topics only: other topics are ignored, never errors. The
-- triage's topics are read from its (topic, judge_batch) index, one lookup per topic (a loose
-- index scan), so every fact is checked each night without reading the table.
with recursive

triage_topics as (
    (
        select triage.topic
        from {{ ref('facts_triage') }} as triage
        order by triage.topic
        limit 1
    )
    union all
    select (
        select triage.topic
        from {{ ref('facts_triage') }} as triage
        where triage.topic > triage_topics.topic
        order by triage.topic
        limit 1
    )
    from triage_topics
    where triage_topics.topic is not null
),

not_staged as (
    select triage_topics.topic
    from triage_topics
    where triage_topics.topic not in ('{{ staged_topics() | join("', '") }}')
)

select
    quarantine.fact_id,
    quarantine.topic
from not_staged
inner join {{ ref('facts_quarantine') }} as quarantine on not_staged.topic = quarantine.topic
