{#- Stable exception id: the same problem keeps its id across runs (DESIGN section 4). -#}
{% macro exception_id(exception_type, subject_key, occurrence) -%}
    {{ dbt.hash(dbt.concat([
        exception_type, "'|'", subject_key, "'|'",
        'cast(' ~ occurrence ~ ' as ' ~ dbt.type_string() ~ ')'
    ])) }}
{%- endmacro %}

{#- 1 for an episode's latest decision (by decided_at, then decision_id) among those where
    `condition` holds, null where it does not hold. -#}
{% macro latest_where(condition) -%}
    case when {{ condition }} then row_number() over (
        partition by exception_id, episode_number, {{ condition }}
        order by decided_at desc, decision_id desc) end
{%- endmacro %}
