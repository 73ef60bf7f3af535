{#- Generic test: the combination of the given columns is unique and none of them is null
    (a composite primary key). Fails with one row per offending key. -#}
{% test unique_combination(model, combination_of_columns) %}

with

keys as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select *
    from keys
    where
        occurrences > 1
        {%- for column in combination_of_columns %}
            or {{ column }} is null
        {%- endfor %}
)

select * from final

{% endtest %}
