{#- Stable exception id: the same problem keeps its id across runs (DESIGN section 4). -#}
{% macro exception_id(exception_type, subject_key, occurrence) -%}
    {{ dbt.hash(dbt.concat([
        exception_type, "'|'", subject_key, "'|'",
        'cast(' ~ occurrence ~ ' as ' ~ dbt.type_string() ~ ')'
    ])) }}
{%- endmacro %}
