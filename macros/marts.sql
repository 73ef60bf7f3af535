{#- Building blocks the intermediate models and marts share: the reference date and the rules
    that more than one model (or an analysis) applies. Thresholds come from vars (docs/vars.md). -#}

{#- The reference date ("today") as a SQL date: var as_of_date, or the current date in
    reporting_timezone when it is null. -#}
{% macro as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or (as_of | string | trim) in ('', 'none', 'None', 'null') -%}
        (current_timestamp at time zone '{{ var("reporting_timezone") }}')::date
    {%- else -%}
        '{{ as_of | string | trim }}'::date
    {%- endif -%}
{%- endmacro %}

{#- The calendar date of a timestamptz in reporting_timezone. -#}
{% macro reporting_date(ts) -%}
    ({{ ts }} at time zone '{{ var("reporting_timezone") }}')::date
{%- endmacro %}

{#- Lifecycle stage from days since the first and the last order (boundaries inclusive). -#}
{% macro lifecycle_stage(days_since_first_order, days_since_last_order) -%}
    case
        when {{ days_since_first_order }} <= {{ var('lifecycle_new_max_days') }} then 'new'
        when {{ days_since_last_order }} <= {{ var('lifecycle_active_max_days') }} then 'active'
        when {{ days_since_last_order }} <= {{ var('lifecycle_at_risk_max_days') }} then 'at_risk'
        else 'churned'
    end
{%- endmacro %}

{#- 1 plus the number of thresholds the value reaches (value >= threshold): a score from 1 to 5. -#}
{% macro score_at_least(value, thresholds) -%}
    (1{% for threshold in thresholds %} + case when {{ value }} >= {{ threshold }} then 1 else 0 end{% endfor %})
{%- endmacro %}

{#- 1 plus the number of thresholds the value stays within (value <= threshold): recency scores. -#}
{% macro score_at_most(value, thresholds) -%}
    (1{% for threshold in thresholds %} + case when {{ value }} <= {{ threshold }} then 1 else 0 end{% endfor %})
{%- endmacro %}

{#- A category_l1 mapped to its marketing content theme (var content_theme_by_category). -#}
{% macro content_theme(category_l1) -%}
    case {{ category_l1 }}
    {%- for category, theme in var('content_theme_by_category').items() %}
        when '{{ category }}' then '{{ theme }}'
    {%- endfor %}
        else 'general_hotrod'
    end
{%- endmacro %}

{#- Whether an order counts: cancelled (cancelled_at set) and test orders count for nothing. -#}
{% macro order_counts_toward_revenue(orders) -%}
    (not {{ orders }}.is_cancelled and not {{ orders }}.is_test)
{%- endmacro %}

{#- Per customer, the category with the most net amount in spend (shop_domain, customer_id,
    category_l1, net_amount), as column_name; a tie goes to the first category by name. The
    customer id sorts before the shop: most comparisons then end on an integer (at 1M, 0.6 s
    against 0.9 s), and the groups are the same. -#}
{% macro top_category_by_net_amount(spend, column_name) -%}
    select distinct on (customer_id, shop_domain)
        shop_domain,
        customer_id,
        category_l1 as {{ column_name }}
    from {{ spend }}
    order by customer_id asc, shop_domain asc, net_amount desc, category_l1 asc
{%- endmacro %}

{#- An amount as a tile prints it: rounded to the cent, thousands separated (12,345.60). -#}
{% macro kpi_amount(amount) -%}
    to_char(round({{ amount }}, 2), 'FM999,999,999,999,990.00')
{%- endmacro %}

{#- A landing page as SEO compares it: the path of a URL (Search Console's page) or of a path
    with its query string (GA4's landingPagePlusQueryString), without query string or fragment;
    the home page is '/'. -#}
{% macro seo_page_path(page) -%}
    coalesce(
        nullif(
            regexp_replace(regexp_replace({{ page }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*', ''), '[?#].*$', ''),
            ''
        ),
        '/'
    )
{%- endmacro %}

{#- A change as a tile prints it: a signed whole percent (+12%, -30%, 0%). -#}
{% macro kpi_change(share) -%}
    (case when round(100 * {{ share }}) > 0 then '+' else '' end || round(100 * {{ share }})::text || '%')
{%- endmacro %}

{#- The SEO windows as one row, with the as-of date: the last 7 days of Search Console's data (window_start to
    window_end, which is var seo_report_lag_days before the as-of date) and the 7 days before
    them (prior_window_start to window_start - 1). -#}
{% macro seo_window() -%}
    select
        {{ as_of_date() }} as as_of_date,
        {{ as_of_date() }} - {{ var('seo_report_lag_days') }} - 13 as prior_window_start,
        {{ as_of_date() }} - {{ var('seo_report_lag_days') }} - 6 as window_start,
        {{ as_of_date() }} - {{ var('seo_report_lag_days') }} as window_end
{%- endmacro %}
