{#-
  validated_source(relation): every validated batch of one catalog resource, as a subquery
  typed by the catalog.

  `relation` is `source('validated', '<table>')`. Its dbt-duckdb `external_location` is the
  glob $KCDATA_LAKE/validated/<table>/*/data.parquet; the column list and types come from
  the generated _sources.yml (catalog items, then _row, _batch, _loaded_at).

  - No batch yet (the glob matches no file): an empty relation with the declared columns
    and types, so the models downstream build and return zero rows.
  - Batches written before an item was added to the catalog: the missing column reads as
    NULL (files are combined by column name, not position).
  - Directory names such as batch=<fingerprint> are not read as hive partitions.
-#}
{% macro validated_source(relation) -%}
  {%- set node = _validated_source_node(relation) -%}
  {%- set location = relation.external -%}
  {%- if execute and not (location and location.startswith("'")) -%}
    {{ exceptions.raise_compiler_error(
        "validated_source: source " ~ relation.identifier ~ " needs a path glob in meta.external_location") }}
  {%- endif -%}
  {%- set reader = "read_parquet(" ~ location ~ ", union_by_name = true, hive_partitioning = false)" -%}

  {%- set present = none -%}
  {%- if execute -%}
    {%- set n_files = run_query("select count(*) from glob(" ~ location ~ ")").columns[0].values()[0] -%}
    {%- if n_files == 0 -%}
      {%- set present = [] -%}
    {%- else -%}
      {%- set described = run_query("describe select * from " ~ reader) -%}
      {%- set present = described.columns[0].values() | map('lower') | list -%}
    {%- endif -%}
  {%- endif -%}

  (
    select
    {%- for column in node.columns.values() %}
      {% if present is none or column.name | lower in present -%}
        cast({{ adapter.quote(column.name) }} as {{ column.data_type }})
      {%- else -%}
        cast(null as {{ column.data_type }})
      {%- endif %} as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
    {%- endfor %}
    {% if present is not none and present | length == 0 -%}
    where false  -- no validated batch yet
    {%- else -%}
    from {{ reader }}
    {%- endif %}
  ) as {{ relation.identifier }}_batches
{%- endmacro %}


{% macro _validated_source_node(relation) -%}
  {#- the graph is only filled in at execution; parsing needs just the source() call -#}
  {%- if not execute -%}
    {%- do return({'columns': {}}) -%}
  {%- endif -%}
  {%- for node in graph.sources.values() -%}
    {%- if node.source_name == 'validated' and node.name == relation.identifier -%}
      {%- do return(node) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("validated_source: no source validated." ~ relation.identifier) }}
{%- endmacro %}
