{#-
  validated_source(relation): every validated batch of one catalog resource that PASSED
  validation, as a subquery typed by the catalog.

  `relation` is `source('validated', '<table>')`. Its generated source (transform/project.py)
  carries `meta.outcome_glob`, the glob of the `outcome.json` files the validate stage writes
  beside each validated batch; a batch is read only when its outcome says `passed: true`, so a
  version held back for too many quarantined rows never reaches the marts (they keep the
  batches that passed). A delivery validated again under changed rules counts once: its newest
  validation decides. The column list and types come from the generated source.

  - No passing batch yet: an empty relation with the declared columns and types, so the models
    downstream build and return zero rows.
  - Batches written before an item was added to the catalog: the missing column reads as
    NULL (files are combined by column name, not position).
  - Directory names such as batch=<fingerprint> are not read as hive partitions.
  - Batches with encrypted personal items (which DuckDB cannot decrypt) are read from the
    decrypting relations transform/lake_plugin.py registers, in memory only.
-#}
{% macro validated_source(relation) -%}
  {%- set node = _validated_source_node(relation) -%}
  {%- set files = _passing_batch_files(node) -%}
  {%- set reader = _batch_reader(files) -%}

  {%- set present = none -%}
  {%- if execute and files | length == 0 -%}
    {%- set present = [] -%}
  {%- elif execute -%}
    {%- set described = run_query("describe select * from " ~ reader) -%}
    {%- set present = described.columns[0].values() | map('lower') | list -%}
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
    {% if files | length == 0 -%}
    where false  -- no passing validated batch yet
    {%- else -%}
    from {{ reader }}
    {%- endif %}
  ) as {{ relation.identifier }}_batches
{%- endmacro %}


{% macro _batch_reader(files) -%}
  {#- plain batches through read_parquet; encrypted ones (personal items) from the decrypting
      relation the kcdata dbt plugin (transform/lake_plugin.py) registered for each; combined
      by column name -#}
  {%- set relations = {} -%}
  {%- if execute and files | length > 0 -%}
    {%- set index = run_query("select file, relation from kcdata_encrypted_batches") -%}
    {%- for row in index.rows -%}
      {%- do relations.update({row[0]: row[1]}) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set quoted = [] -%}
  {%- set parts = [] -%}
  {%- for f in files -%}
    {%- if f in relations -%}
      {%- do parts.append("select * from " ~ relations[f]) -%}
    {%- else -%}
      {%- do quoted.append(sql_literal(f)) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if quoted | length > 0 or parts | length == 0 -%}
    {%- do parts.insert(0, "select * from read_parquet([" ~ quoted | join(', ') ~ "], union_by_name = true, hive_partitioning = false)") -%}
  {%- endif -%}
  {%- if parts | length == 1 and quoted | length > 0 -%}
    {%- do return("read_parquet([" ~ quoted | join(', ') ~ "], union_by_name = true, hive_partitioning = false)") -%}
  {%- endif -%}
  {%- do return("(" ~ parts | join(" union all by name ") ~ ")") -%}
{%- endmacro %}


{% macro _passing_batch_files(node) -%}
  {#- data.parquet beside every outcome.json that says passed; none while parsing -#}
  {%- if not execute -%}
    {%- do return([]) -%}
  {%- endif -%}
  {%- set outcomes = node.meta.get('outcome_glob') or node.config.meta.get('outcome_glob') -%}
  {%- if not outcomes -%}
    {{ exceptions.raise_compiler_error("validated_source: source " ~ node.name ~ " needs meta.outcome_glob") }}
  {%- endif -%}
  {%- set quoted = sql_literal(outcomes) -%}
  {%- set n = run_query("select count(*) from glob(" ~ quoted ~ ")").columns[0].values()[0] -%}
  {%- if n == 0 -%}
    {%- do return([]) -%}
  {%- endif -%}
  {#- a delivery validated again under changed rules: only its newest validation counts -#}
  {%- set found = run_query(
        "select f from ("
        ~ " select regexp_replace(filename, 'outcome\\.json$', 'data.parquet') as f, passed,"
        ~ " row_number() over (partition by coalesce(fingerprint, filename) order by validated_at desc, filename desc) as newest"
        ~ " from read_json(" ~ quoted ~ ", filename = true,"
        ~ " columns = {'passed': 'BOOLEAN', 'fingerprint': 'VARCHAR', 'validated_at': 'VARCHAR'})"
        ~ ") where newest = 1 and passed order by f") -%}
  {%- do return(found.columns[0].values() | list) -%}
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
