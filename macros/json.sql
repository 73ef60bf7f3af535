{#-
    JSON access and safe casting: the one place that knows the SQL dialect.
    A path is given as separate keys: json_text('value', 'customer', 'id').
    Safe casts return null instead of raising when the text is not of the type, so a bad
    payload can be detected and quarantined instead of failing the build.
-#}

{% macro json_path(keys) -%}
    '{{ "{" ~ (keys | join(",")) ~ "}" }}'
{%- endmacro %}

{#- The value at a path as text (strings unquoted, numbers as written); null if absent. -#}
{% macro json_text(column) -%}
    ({{ column }} #>> {{ json_path(varargs) }})
{%- endmacro %}

{#- The value at a path as jsonb; null if absent. -#}
{% macro json_get(column) -%}
    ({{ column }} #> {{ json_path(varargs) }})
{%- endmacro %}

{#- The JSON type at a path ('object', 'array', 'string', 'number', 'boolean', 'null'); null if absent. -#}
{% macro json_type(column) -%}
    jsonb_typeof({{ column }} #> {{ json_path(varargs) }})
{%- endmacro %}

{#- One row per element of the array at a path; no rows when it is absent or not an array. -#}
{% macro json_array_elements(column) -%}
    jsonb_array_elements(
        case
            when jsonb_typeof({{ column }} #> {{ json_path(varargs) }}) = 'array'
                then {{ column }} #> {{ json_path(varargs) }}
            else '[]'::jsonb
        end
    )
{%- endmacro %}

{#-
    Blank around a number is what the casts skip: ASCII white space only. The regex class \s also
    matches Unicode spaces (U+2003, U+3000, ...), which the casts refuse.
-#}
{#- A decimal number in any range (the cast to numeric can still overflow). -#}
{% macro is_decimal_text(expr) -%}
    coalesce(({{ expr }}) ~ '^[ \t\n\r\f\v]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[ \t\n\r\f\v]*$', false)
{%- endmacro %}

{#-
    A decimal number staging takes: at most 15 digits before the point and 15 after (leading and
    trailing zeros aside). Money beyond that is not Shopify's; a cast, a product or a sum of it
    could overflow numeric (1e131071 is valid JSON) or make a mart's index row too large.
-#}
{% macro is_numeric_text(expr) -%}
    coalesce(
        ({{ expr }})
        ~ '^[ \t\n\r\f\v]*[+-]?0*([0-9]{1,15}(\.[0-9]{0,15}0*)?|\.[0-9]{1,15}0*)[ \t\n\r\f\v]*$',
        false
    )
{%- endmacro %}

{% macro is_integer_text(expr) -%}
    coalesce(({{ expr }}) ~ '^[ \t\n\r\f\v]*[+-]?[0-9]{1,18}(\.0*)?[ \t\n\r\f\v]*$', false)
{%- endmacro %}

{#-
    ISO 8601 date-time with an optional offset, every field in range: 2024-13-01, 2023-02-29,
    2024-04-31, year 0000 and an offset beyond 15:59 (PostgreSQL's limit) are rejected, so the
    cast that follows can never raise.
    The CASE orders the checks: the year is read as a number only once the shape matched.
-#}
{% macro is_timestamp_text(expr) -%}
    coalesce(
        case
            when ({{ expr }})
                ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?)?(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?$'
                and ({{ expr }}) !~ '^(0000|\d{4}-(02-3[01]|(04|06|09|11)-31))'
                then
                    substr({{ expr }}, 6, 5) <> '02-29'
                    or (
                        substr({{ expr }}, 1, 4)::integer % 4 = 0
                        and (
                            substr({{ expr }}, 1, 4)::integer % 100 <> 0
                            or substr({{ expr }}, 1, 4)::integer % 400 = 0
                        )
                    )
            else false
        end,
        false
    )
{%- endmacro %}

{% macro safe_numeric(expr) -%}
    case when {{ is_numeric_text(expr) }} then ({{ expr }})::numeric end
{%- endmacro %}

{% macro safe_bigint(expr) -%}
    case when {{ is_integer_text(expr) }} then trunc(({{ expr }})::numeric)::bigint end
{%- endmacro %}

{% macro safe_integer(expr) -%}
    case
        when {{ is_integer_text(expr) }} and abs(trunc(({{ expr }})::numeric)) < 2147483648
            then trunc(({{ expr }})::numeric)::integer
    end
{%- endmacro %}

{% macro safe_timestamptz(expr) -%}
    case when {{ is_timestamp_text(expr) }} then ({{ expr }})::timestamptz end
{%- endmacro %}

{% macro safe_boolean(expr) -%}
    case lower({{ expr }}) when 'true' then true when 'false' then false end
{%- endmacro %}

{#- Typed accessors: json_numeric('value', 'total_price') etc. -#}
{% macro json_numeric(column) -%}
    {{ safe_numeric(json_text(column, *varargs)) }}
{%- endmacro %}

{% macro json_bigint(column) -%}
    {{ safe_bigint(json_text(column, *varargs)) }}
{%- endmacro %}

{% macro json_integer(column) -%}
    {{ safe_integer(json_text(column, *varargs)) }}
{%- endmacro %}

{% macro json_timestamptz(column) -%}
    {{ safe_timestamptz(json_text(column, *varargs)) }}
{%- endmacro %}

{% macro json_boolean(column) -%}
    {{ safe_boolean(json_text(column, *varargs)) }}
{%- endmacro %}

{#- Text with empty strings turned into null. -#}
{% macro json_string(column) -%}
    nullif(btrim({{ json_text(column, *varargs) }}), '')
{%- endmacro %}
