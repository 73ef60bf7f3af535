{% snapshot customer_segments_history %}
{#- Each customer's segment, lifecycle stage and RFM scores as every build found them: a new row
    when one of them changes, the old row closed (dbt_valid_to). "Who moved from active to
    at_risk this week" is a query on this table (analyses/segment_migration.sql). No PII: the
    customer is its id. -#}
{{
    config(
        schema='marts',
        unique_key=['shop_domain', 'customer_id'],
        strategy='check',
        check_cols=['primary_segment', 'lifecycle_stage', 'recency_score', 'frequency_score', 'monetary_score'],
        hard_deletes='invalidate',
    )
}}

    select
        shop_domain,
        customer_id,
        primary_segment,
        lifecycle_stage,
        recency_score,
        frequency_score,
        monetary_score,
        rfm_score,
        as_of_date
    from {{ ref('customer_segments') }}

{% endsnapshot %}
