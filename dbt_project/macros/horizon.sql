{#- Horizon week of a date relative to week 0 (the week containing as_of): anything earlier
    (past due) lands in week 0. -#}
{% macro horizon_week_index(date_column, week0_column='week0_start') -%}
    greatest(0, cast(floor({{ dbt.datediff(week0_column, date_column, 'day') }} / 7.0) as integer))
{%- endmacro %}

{#- 0 .. horizon_weeks - 1 as rows, without a dialect-specific series function. -#}
{% macro horizon_week_indexes() -%}
    {%- for week_index in range(var('horizon_weeks')) %}
    select {{ week_index }} as week_index {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- ISO week label used in reason texts, e.g. 2026-W47. -#}
{% macro iso_week_label(date_column) -%}
    {{ return(adapter.dispatch('iso_week_label')(date_column)) }}
{%- endmacro %}

{% macro duckdb__iso_week_label(date_column) -%}
    strftime({{ date_column }}, '%G-W%V')
{%- endmacro %}

{% macro spark__iso_week_label(date_column) -%}
    concat(year(date_add({{ date_column }}, 3)), '-W', lpad(weekofyear({{ date_column }}), 2, '0'))
{%- endmacro %}

{#- Whole number with thousands separators, for reason texts. -#}
{% macro format_units(expression) -%}
    {{ return(adapter.dispatch('format_units')(expression)) }}
{%- endmacro %}

{% macro duckdb__format_units(expression) -%}
    format('{:,.0f}', cast({{ expression }} as double))
{%- endmacro %}

{% macro spark__format_units(expression) -%}
    format_number({{ expression }}, 0)
{%- endmacro %}
