-- Every staged line item belongs to a staged order of its shop. On an incremental night of
-- `hotdash build` it reads the items staged from the batches no passing check has read (their
-- parent_judge_batch, macros/triage.sql accounting_from_batch), each looked up in the orders'
-- unique index; every item otherwise. A staged order is never removed (a newer version replaces
-- its row and its items in the same build), so an item checked once keeps its order.
{%- set from_batch = accounting_from_batch() | string | trim %}

with

items as (
    select
        shop_domain,
        order_id,
        position
    from {{ ref('stg_shopify__order_line_items') }}
    {%- if from_batch != '0' %}
        where parent_judge_batch >= {{ from_batch }}
    {%- endif %}
),

orders as (
    select
        shop_domain,
        order_id
    from {{ ref('stg_shopify__orders') }}
)

select
    items.shop_domain,
    items.order_id,
    items.position
from items
where not exists (
    select 1 from orders
    where
        orders.shop_domain = items.shop_domain
        and orders.order_id = items.order_id
)
