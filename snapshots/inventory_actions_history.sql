{% snapshot inventory_actions_history %}
{#- Each variant's recommended action as every build found it: a new row when the action
    changes, the old row closed (dbt_valid_to). "How long has this item been in discount" is
    the age of its open row. The stock figures are those of the build that opened the row. -#}
{{
    config(
        schema='marts',
        unique_key=['shop_domain', 'variant_id'],
        strategy='check',
        check_cols=['recommended_action'],
        hard_deletes='invalidate',
    )
}}

    select
        shop_domain,
        variant_id,
        sku,
        recommended_action,
        units_on_hand,
        capital_tied_up,
        months_of_cover,
        as_of_date
    from {{ ref('inventory_alerts') }}

{% endsnapshot %}
