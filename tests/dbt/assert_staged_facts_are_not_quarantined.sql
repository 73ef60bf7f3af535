-- A fact is staged or quarantined, never both: the facts of every staging model (var topics)
-- that the triage holds with a reason. On an incremental night of `hotdash build` it reads what
-- no passing check has read (macros/triage.sql, accounting_from_batch): the facts quarantined in
-- those batches, looked up in each staging model's fact_id index, and the rows staged from those
-- batches, looked up in the triage's unique index; both whole tables otherwise. The two tables
-- below are not materialized, so each side's bound reaches the indexes of the tables under it.
{%- set from_batch = accounting_from_batch() | string | trim %}

with

quarantined as not materialized (
    select
        fact_id,
        judge_batch
    from {{ ref('facts_triage') }}
    -- the staged topics: the bound on judge_batch is then read from the (topic, judge_batch) index
    where reason is not null and topic in ('{{ staged_topics() | join("', '") }}')
),

staged as not materialized (
    {%- for topic, spec in var('topics').items() %}
        select
            fact_id,
            judge_batch
        from {{ ref(spec.model) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

both_ways as (
    select staged.fact_id
    from staged
    inner join quarantined on staged.fact_id = quarantined.fact_id
    {%- if from_batch != '0' %}
        where quarantined.judge_batch >= {{ from_batch }}
        union
        select staged.fact_id
        from staged
        inner join quarantined on staged.fact_id = quarantined.fact_id
        where staged.judge_batch >= {{ from_batch }}
    {%- endif %}
)

select fact_id from both_ways
