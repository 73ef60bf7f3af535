-- A fact is staged or quarantined, never both.
with staged as (
    {%- for model in ['stg_shopify__orders', 'stg_shopify__refunds', 'stg_shopify__customers',
                      'stg_shopify__products', 'stg_shopify__inventory_items',
                      'stg_shopify__inventory_levels'] %}
        select fact_id from {{ ref(model) }}
        {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
)

select staged.fact_id
from staged
inner join {{ ref('facts_quarantine') }} as quarantine on staged.fact_id = quarantine.fact_id
