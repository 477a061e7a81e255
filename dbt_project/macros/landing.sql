{#- Snapshot and event rules of DESIGN section 3, applied to a raw table whose rows carry
    `_source_file` and `_extracted_at`. Only files extracted on or before as_of are visible. -#}

{% macro visible_rows(relation) -%}
    select *
    from {{ relation }}
    where _extracted_at < (select files_visible_before from {{ ref('stg_pipeline__run_context') }})
{%- endmacro %}

{#- The loaded files of `relation`'s extract visible to the run (source_file, extracted_at). -#}
{% macro visible_files(relation) -%}
    select source_file, extracted_at
    from {{ source('pipeline', 'loaded_files') }}
    where extract = '{{ relation.identifier }}'
        and extracted_at < (select files_visible_before from {{ ref('stg_pipeline__run_context') }})
{%- endmacro %}

{#- Snapshot extract: the newest visible file is the whole truth. It is looked up in the list
    of loaded files, and its extraction time lets DuckDB skip the row groups of every other
    file, so the cost does not grow with the weeks of snapshots kept in raw. -#}
{% macro latest_snapshot(relation) -%}
    {{ return(adapter.dispatch('latest_snapshot')(relation)) }}
{%- endmacro %}

{% macro duckdb__latest_snapshot(relation) -%}
with newest_file as (
    {{ visible_files(relation) }}
    order by extracted_at desc, source_file desc
    limit 1
)

select * exclude (_loaded_at)
from {{ relation }}
where _extracted_at = (select extracted_at from newest_file)
    and _source_file = (select source_file from newest_file)
{%- endmacro %}

{#- Event extract: every visible file counts; a later file's row replaces an earlier one with
    the same key (that is how sources send corrections). `where` restricts the rows considered
    (it must keep or drop every version of a key together, e.g. a filter on the key).

    Each visible file gets a rank (by extraction time, then name) and every column takes its
    value from the key's highest-ranked file: a hash aggregate (`arg_max`) rather than a sort
    of every row by key (keys are unique within a file: the ingestion contract checks it).
    Rows restricted by `where` are selected first (materialized), so DuckDB still skips the
    row groups the filter excludes; joined to the file ranks, it would scan every row.

    `partition`: a key column that splits the rows between files, such as the business date
    of a daily extract. Per value, the file with most of its rows is that value's primary
    file; a key can only have two versions if one of them lies outside its primary file
    (keys are unique within a file). So only the keys found outside the primary files (by a
    64-bit hash: a colliding key is merely de-duplicated with the others, still exactly) go
    through `arg_max`; every other row is its key's only version and passes as it is. Two
    years of POS are then de-duplicated in two scans with small hash tables instead of one
    aggregate holding every key: 3x faster at medium, and no spilling of a table the size of
    the history at large. -#}
{% macro latest_events(relation, key, where=none, partition=none) -%}
    {{ return(adapter.dispatch('latest_events')(relation, key, where, partition)) }}
{%- endmacro %}

{% macro duckdb__latest_events(relation, key, where, partition) -%}
{%- set keys = key | join(', ') -%}
{%- set lineage = '_loaded_at, _file, _file_rank' -%}
with ranked_files as (
    select
        source_file as _file,
        row_number() over (order by extracted_at, source_file) as _file_rank
    from ({{ visible_files(relation) }})
),

versions as {% if where %}materialized{% else %}not materialized{% endif %} (
    {{ visible_rows(relation) }}
    {%- if where %}
    and ({{ where }})
    {%- endif %}
)
{%- if partition %},

primary_files as materialized (
    select {{ partition }}, arg_max(_source_file, (rows_in_file, _source_file)) as _source_file
    from (
        select {{ partition }}, _source_file, count(*) as rows_in_file
        from versions
        group by all
    )
    group by {{ partition }}
),

outside_primary_files as materialized (
    select distinct {{ key_hash(keys) }} as key_hash
    from versions
    anti join primary_files using ({{ partition }}, _source_file)
)

select * exclude (_loaded_at)
from versions
semi join primary_files using ({{ partition }}, _source_file)
where {{ key_hash(keys) }} not in (select key_hash from outside_primary_files)
union all by name
{%- endif %}

select
    {{ keys }},
    arg_max(columns(* exclude ({{ keys }}, {{ lineage }})), _file_rank)
from versions
inner join ranked_files on versions._source_file = ranked_files._file
{%- if partition %}
where {{ key_hash(keys) }} in (select key_hash from outside_primary_files)
{%- endif %}
group by {{ keys }}
{%- endmacro %}

{#- Spark: the same rows by standard SQL, the columns named (Spark has no `* exclude`): the
    newest visible file's rows; for events, each key's version from its highest-ranked file
    by a window (DuckDB's hash-aggregate and partition shortcuts are for one machine). -#}
{% macro spark__latest_snapshot(relation) -%}
{%- set columns = source_columns(relation) | reject('equalto', '_loaded_at') | list -%}
with newest_file as (
    {{ visible_files(relation) }}
    order by extracted_at desc, source_file desc
    limit 1
)

select {{ columns | join(', ') }}
from {{ relation }}
where _extracted_at = (select extracted_at from newest_file)
    and _source_file = (select source_file from newest_file)
{%- endmacro %}

{% macro spark__latest_events(relation, key, where, partition) -%}
{%- set others = source_columns(relation) | reject('in', key + ['_loaded_at']) | list -%}
with ranked_files as (
    select
        source_file as _file,
        row_number() over (order by extracted_at, source_file) as _file_rank
    from ({{ visible_files(relation) }})
),

versions as (
    {{ visible_rows(relation) }}
    {%- if where %}
    and ({{ where }})
    {%- endif %}
),

ranked as (
    select
        versions.*,
        row_number() over (
            partition by {{ key | join(', ') }} order by ranked_files._file_rank desc
        ) as _version
    from versions
    inner join ranked_files on versions._source_file = ranked_files._file
)

select {{ (key + others) | join(', ') }}
from ranked
where _version = 1
{%- endmacro %}

{#- The loaded files of the daily event extracts that measure demand (int_weekly_event_totals)
    visible to the run; `loaded_at` changes when a file re-delivered with changed content is
    loaded again. -#}
{% macro demand_event_files() -%}
select system, extract, source_file, extracted_at, loaded_at
from {{ ref('stg_pipeline__loaded_files') }}
where (system, extract) in (('pos', 'daily_sales'), ('wms', 'shipments')) and is_visible
{%- endmacro %}

{#- Rows of `relation` from the files in `files` (system, source_file, extracted_at) of one
    system; the extraction-time range lets DuckDB skip the row groups of other files. -#}
{% macro from_files(files, system) -%}
_extracted_at between (select min(extracted_at) from {{ files }} where system = '{{ system }}')
    and (select max(extracted_at) from {{ files }} where system = '{{ system }}')
and _source_file in (select source_file from {{ files }} where system = '{{ system }}')
{%- endmacro %}

{#- A date column in the weeks of `weeks` (week_start); the date range lets DuckDB skip the
    row groups of other weeks. -#}
{% macro in_weeks(column, weeks='weeks') -%}
{{ column }} >= (select min(week_start) from {{ weeks }})
and {{ column }} < (select max(week_start) + 7 from {{ weeks }})
and cast({{ dbt.date_trunc('week', column) }} as date) in (select week_start from {{ weeks }})
{%- endmacro %}
