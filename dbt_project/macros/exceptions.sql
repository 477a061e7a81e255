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

{#- The `columns` (name -> SQL type) of intermediate.<identifier>'s rows from runs before this
    run's as_of, read as the table stands before this build: it is built downstream of the
    model reading it, so it is not ref'd. Before its first build: no rows, typed. -#}
{% macro earlier_runs(identifier, columns) -%}
    {%- set relation = adapter.get_relation(this.database, 'intermediate', identifier) %}
    {%- if relation is not none %}
    select {% for name in columns %}earlier.{{ name }}{{ ", " if not loop.last }}{% endfor %}
    from {{ relation }} as earlier
    where earlier.as_of < (select as_of from {{ ref('stg_pipeline__run_context') }})
    {%- else %}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    where 1 = 0
    {%- endif %}
{%- endmacro %}
