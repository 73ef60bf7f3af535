{#- Rows each mart table got in each build of the last pipeline_health_days days (dbt's
    rows_affected, ops.build_run_nodes). The marts are the models of the marts schema, listed
    from dbt's graph when this view is compiled. Counts over every shop: analysts only (schema ops). -#}
{{ config(materialized='view') }}

{%- set marts_schema = hotdash_security_config()['marts_schema'] -%}
{%- set marts = [] -%}
{%- for node in graph.nodes.values()
    if node.resource_type == 'model' and node.schema == marts_schema
    and node.config.materialized in ('table', 'incremental') -%}
    {%- do marts.append(node.unique_id) -%}
{%- endfor %}

with

build_runs as (
    select * from {{ source('ops', 'build_runs') }}
),

build_run_nodes as (
    select * from {{ source('ops', 'build_run_nodes') }}
),

final as (
    select
        build_runs.run_id,
        build_runs.started_at,
        build_run_nodes.name as mart,
        build_run_nodes.status,
        build_run_nodes.rows_affected
    from build_runs
    inner join build_run_nodes on build_runs.run_id = build_run_nodes.run_id
    where
        build_runs.started_at >= now() - make_interval(days => {{ var('pipeline_health_days') | int }})
        and build_run_nodes.unique_id = any({{ hotdash_literal_array(marts) }})
)

select * from final
