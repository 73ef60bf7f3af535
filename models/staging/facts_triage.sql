{#-
    Every fact of a staged topic, judged once: reason is null for a good payload, else the first
    rule it breaks; warnings lists what is staged but suspicious (a timestamp in the future, an
    unknown financial status). Staging reads the good ones, facts_quarantine shows the others, and
    the source contracts count both.

    Ids are handed out before commit, so facts commit out of id order: a writer that holds its
    transaction open commits an id below facts already judged. The judge therefore reads every
    fact past the settled watermark (macros/triage.sql) that is not judged yet, not "past the
    highest id". Each run is one batch (judge_batch, in commit order): the staging models read
    the batches they have not read, so a late fact reaches them on the first build after its commit.
-#}
{{
    config(
        materialized='incremental',
        schema='ops',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['fact_id'], 'unique': true},
            {'columns': ['topic', 'judge_batch']},
        ],
        pre_hook=[
            "{{ triage_open_batch() }}",
            "{{ judge_functions() }}",
            "{{ triage_merge_not_judged() }}",
        ],
        post_hook=[
            "{{ triage_constraints() }}",
            "{{ triage_close_batch() }}",
            after_commit("{{ triage_seal_batches() }}"),
        ],
    )
}}

with

judged as (
    select *
    from (
        {{ triage_judge_groups() }}
    ) as groups
    -- Each row's verdict once: without this, the reason below would be computed again.
    offset 0  -- noqa: AM09
),

final as (
    select
        fact_id,
        shop_domain,
        topic,
        reason,
        warnings,
        fact_created_at,
        judge_batch,
        entity_id,
        location_id,
        -- The checked timestamp of a good fact: staging keeps the latest version of each entity.
        case when reason is null then {{ triage_version_at('topic', 'version_text') }} end as version_at
    from judged
)

select * from final
