-- Quarantine holds facts of staged topics only: other topics are ignored, never errors.
select
    fact_id,
    topic
from {{ ref('facts_quarantine') }}
where topic not in ('{{ staged_topics() | join("', '") }}')
