{#- Where DuckDB and Spark SQL differ, a model calls one of these macros (or one of dbt's
    cross-database macros); each has a `duckdb__` and a `spark__` implementation, chosen by
    the target's adapter (README, "Scaling out"). No model uses DuckDB-only syntax of its
    own: tests/test_engine_neutral_sql.py compiles the project for both engines and parses
    every model. -#}

{#- A 64-bit hash of one or more columns (a comma-separated list), for grouping keys. -#}
{% macro key_hash(columns) -%}
    {{ return(adapter.dispatch('key_hash')(columns)) }}
{%- endmacro %}

{% macro duckdb__key_hash(columns) -%}
    hash({{ columns }})
{%- endmacro %}

{% macro spark__key_hash(columns) -%}
    xxhash64({{ columns }})
{%- endmacro %}

{#- Aggregate: `measure` (a string) of the group's rows joined by `delimiter` (a SQL string
    literal) in the order of `order_by` (a list of ascending expressions; negate a number to
    sort it descending). dbt.listagg ignores the order on Spark. -#}
{% macro ordered_listagg(measure, delimiter, order_by) -%}
    {{ return(adapter.dispatch('ordered_listagg')(measure, delimiter, order_by)) }}
{%- endmacro %}

{% macro duckdb__ordered_listagg(measure, delimiter, order_by) -%}
    string_agg({{ measure }}, {{ delimiter }} order by {{ order_by | join(', ') }})
{%- endmacro %}

{% macro spark__ordered_listagg(measure, delimiter, order_by) -%}
    array_join(transform(array_sort(collect_list(struct(
        {%- for expression in order_by %}{{ expression }} as _sort_{{ loop.index }}, {% endfor -%}
        {{ measure }} as _value))), item -> item._value), {{ delimiter }})
{%- endmacro %}

{#- A number as text with `places` decimals and no thousands separator, e.g. 2.5. -#}
{% macro format_decimal(expression, places) -%}
    {{ return(adapter.dispatch('format_decimal')(expression, places)) }}
{%- endmacro %}

{% macro duckdb__format_decimal(expression, places) -%}
    format('{:.{{ places }}f}', cast({{ expression }} as double))
{%- endmacro %}

{% macro spark__format_decimal(expression, places) -%}
    format_string('%.{{ places }}f', cast({{ expression }} as double))
{%- endmacro %}

{#- Replace `relation` with the rows of `sql` (hooks: a side table next to a model). -#}
{% macro replace_table_as(relation, sql) -%}
    {{ return(adapter.dispatch('replace_table_as')(relation, sql)) }}
{%- endmacro %}

{% macro duckdb__replace_table_as(relation, sql) -%}
    create or replace table {{ relation }} as {{ sql }}
{%- endmacro %}

{#- Spark replaces only v2 (Delta / Iceberg) tables in place: drop, then create. -#}
{% macro spark__replace_table_as(relation, sql) -%}
    {%- do run_query('drop table if exists ' ~ relation) -%}
    create table {{ relation }} using parquet as {{ sql }}
{%- endmacro %}

{#- The columns a generated source declares (its contract's columns and the lineage
    columns), in order; empty while dbt parses. -#}
{% macro source_columns(relation) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.identifier == relation.identifier and node.schema == relation.schema -%}
            {{ return(node.columns.keys() | list) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no source declares " ~ relation) }}
{%- endmacro %}

{#- How an incremental model replaces the rows a run recomputes. DuckDB deletes the rows of
    `unique_key` that the run's rows have (or, with `delete_where`, the rows it names) and
    inserts; Spark without Delta / Iceberg cannot delete, so it overwrites the table's
    partitions (`partition_by`, a prefix of the key) that the run's rows fall in. The same
    rows, as long as a run's rows cover each partition they touch: every model using this
    writes whole runs (as_of) or whole weeks. -#}
{% macro incremental_config(unique_key, partition_by, delete_where=none) -%}
    {{ return(adapter.dispatch('incremental_config')(unique_key, partition_by, delete_where)) }}
{%- endmacro %}

{% macro duckdb__incremental_config(unique_key, partition_by, delete_where) -%}
    {%- if delete_where -%}
        {{ return({'incremental_strategy': 'append', 'pre_hook':
            '{% if is_incremental() %}delete from {{ this }} where ' ~ delete_where ~ '{% endif %}'}) }}
    {%- endif -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': unique_key}) }}
{%- endmacro %}

{% macro spark__incremental_config(unique_key, partition_by, delete_where) -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': partition_by}) }}
{%- endmacro %}

{#- dbt.dateadd by days or weeks, on Spark: a date stays a date. dbt-spark's own goes through
    unix time and to_timestamp, which gives null under TIMESTAMP_NTZ (profiles.yml). -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- if datepart not in ('day', 'week') -%}
        {{ exceptions.raise_compiler_error("spark__dateadd: only day and week, not " ~ datepart) }}
    {%- endif -%}
    date_add(cast({{ from_date_or_timestamp }} as date),
             cast(({{ interval }}) * {{ 7 if datepart == 'week' else 1 }} as int))
{%- endmacro %}

{#- on-run-start (dbt_project.yml): on Spark, every raw table a source names is a Parquet
    table in the run's Spark folder ($SOE_SPARK_WAREHOUSE/raw/<table>, written by
    soe_pipeline.engines.export_raw); on DuckDB the raw tables are in the warehouse already. -#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables')()) }}
{%- endmacro %}

{% macro duckdb__register_raw_tables() -%}
    select 1
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {#- Only for commands that read them: `dbt compile` (tests/test_engine_neutral_sql.py)
        runs without any exported table. -#}
    {%- if execute and invocation_args_dict.get('which') in ('build', 'run', 'test', 'seed') -%}
        {%- set folder = env_var('SOE_SPARK_WAREHOUSE', 'target/spark') ~ '/raw' -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for source in graph.sources.values() if source.schema == 'raw' -%}
            {%- do run_query('drop table if exists raw.' ~ source.identifier) -%}
            {%- do run_query('create table raw.' ~ source.identifier ~ " using parquet location '"
                             ~ folder ~ '/' ~ source.identifier ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
