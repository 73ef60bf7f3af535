{#-
    A model with an enforced contract is created from its query, then given its constraints in
    one ALTER TABLE. dbt's own version creates the table with its constraints and then inserts
    the query's rows; PostgreSQL plans an INSERT ... SELECT without parallel workers and checks
    each row and updates the primary key's index as it goes. CREATE TABLE AS reads the query in
    parallel; the ALTER then checks every constraint in one pass over the rows and builds the
    primary key's index by sorting them. The table, its columns, types, constraints and rows are
    the same; a row that breaks a constraint still fails the model, with PostgreSQL's message
    for a constraint added to a table ("column ... contains null values", "check constraint ...
    is violated by some row") instead of the one for an insert.

    dbt still checks the query's columns and types against the contract first. The constraints
    this project declares (not null on columns; check, primary key and unique on the model) are
    the ones translated; a model with any other kind (a foreign key, a custom or column-level
    check, a constraint with an expression) is created as dbt creates it.
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set contract_config = config.get('contract') -%}
    {%- set constraints = none -%}
    {%- if not temporary and contract_config.enforced -%}
        {%- set constraints = contract_constraints_as_alter() -%}
    {%- endif -%}
    {%- if constraints is none -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- else -%}
        {%- set sql_header = config.get('sql_header', none) -%}
        {{ sql_header if sql_header is not none }}
        {{ get_assert_columns_equivalent(sql) }}
        create {% if config.get('unlogged', default=false) %}unlogged {% endif -%}
        table {{ relation }} as (
            {{ get_select_subquery(sql) }}
        );
        {%- if constraints %}
        alter table {{ relation }}
            {{ constraints | join(',\n            ') }};
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#- The model's contract constraints as ALTER TABLE subcommands (a list, maybe empty), or none
    when one of them is of a kind not translated. -#}
{% macro contract_constraints_as_alter() -%}
    {%- set subcommands = [] -%}
    {%- for column in model['columns'].values() -%}
        {%- set name = adapter.quote(column['name']) if column.get('quote') else column['name'] -%}
        {%- for constraint in column.get('constraints') or [] -%}
            {%- if constraint.get('type') != 'not_null' or constraint.get('expression') -%}
                {{ return(none) }}
            {%- endif -%}
            {%- do subcommands.append('alter column ' ~ name ~ ' set not null') -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set model_constraints = model.get('constraints') or [] -%}
    {%- for constraint in model_constraints -%}
        {%- if constraint.get('type') not in ('check', 'primary_key', 'unique') -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set rendered = adapter.render_raw_model_constraints(raw_constraints=model_constraints) -%}
    {%- if rendered | length != model_constraints | length -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for constraint in rendered -%}
        {%- do subcommands.append('add ' ~ constraint) -%}
    {%- endfor -%}
    {{ return(subcommands) }}
{%- endmacro %}
