{%- set keys = ['shop_domain', 'customer_id'] -%}
{%- set sources = [{'model': 'int_shopify__order_lines', 'changes': true}] -%}
{{ intermediate_incremental_config(keys, sources, []) }}
{%- set state = incremental_state([], sources) if is_incremental() else none %}

-- One row per customer with order lines: the category they spend most on (net of refunds), ties
-- going to the first name. A model of its own, so int_shopify__customer_history does not wait for
-- the order lines: the two are built side by side, and customer_segments joins them. Built
-- incrementally (macros/incremental.sql): a customer is recomputed when int_shopify__order_lines
-- recomputed the lines of one of their orders (one that was theirs or is now).
with

{% if state is not none %}
    changed as (
        {{ changed_keys(keys, sources, state) }}
    ),
{% endif %}

order_lines as (
    select * from {{ ref('int_shopify__order_lines') }}
    where {{ in_changed(keys, state) }}
),

category_spend as (
    select
        shop_domain,
        customer_id,
        category_l1,
        sum(net_amount) as net_amount
    from order_lines
    where customer_id is not null
    group by shop_domain, customer_id, category_l1
),

final as (
    {{ top_category_by_net_amount('category_spend', 'top_category_l1') }}
)

select * from final
