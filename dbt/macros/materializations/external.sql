{#-
  Project override of dbt-duckdb 1.11's `external` materialisation, parquet only.

  The one change: dbt-duckdb writes a row of NULLs into the file when a model returns no
  rows (a workaround for old DuckDB versions that could not write an empty Parquet file)
  and hides that row behind a filtered view. A curated mart is read by other stages
  straight from the file, so an empty mart must be an empty file. DuckDB 2.0 writes and
  reads empty Parquet files (with their schema) fine, so this version simply writes what
  the model returns. The rest follows upstream: build a temp table, COPY it to the
  location, then put a view over the file under the model's name.
-#}
{% materialization external, adapter="duckdb", supported_languages=['sql'] %}

  {%- set location = render(config.get('location', default=external_location(this, config))) -%}
  {%- set rendered_options = render_write_options(config) -%}
  {%- set write_options = adapter.external_write_options(location, rendered_options) -%}
  {%- set format = (config.get('format') or rendered_options['format']) | lower -%}
  {%- if format != 'parquet' -%}
    {{ exceptions.raise_compiler_error("kcdata's external materialisation writes parquet only, not " ~ format) }}
  {%- endif -%}
  {%- set read_location = adapter.external_read_location(location, rendered_options) -%}
  {%- set language = model['language'] -%}

  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set temp_relation = make_intermediate_relation(this.incorporate(type='table'), suffix='__dbt_tmp') -%}
  {%- set intermediate_relation = make_intermediate_relation(target_relation, suffix='__dbt_int') -%}
  {%- set preexisting_temp_relation = load_cached_relation(temp_relation) -%}
  {%- set preexisting_intermediate_relation = load_cached_relation(intermediate_relation) -%}
  {%- set backup_relation_type = 'table' if existing_relation is none else existing_relation.type -%}
  {%- set backup_relation = make_backup_relation(target_relation, backup_relation_type) -%}
  {%- set preexisting_backup_relation = load_cached_relation(backup_relation) -%}

  {{ drop_relation_if_exists(preexisting_intermediate_relation) }}
  {{ drop_relation_if_exists(preexisting_temp_relation) }}
  {{ drop_relation_if_exists(preexisting_backup_relation) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('create_table', language=language) -%}
    {{- create_table_as(False, temp_relation, compiled_code, language) }}
  {%- endcall %}

  {{ write_to_file(temp_relation, location, write_options) }}

  {% call statement('main', language='sql') -%}
    create or replace view {{ intermediate_relation }} as (
      select * from read_parquet('{{ read_location }}')
    );
  {%- endcall %}

  {% if existing_relation is not none %}
    {{ adapter.rename_relation(existing_relation, backup_relation) }}
  {% endif %}
  {{ adapter.rename_relation(intermediate_relation, target_relation) }}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}

  {{ drop_relation_if_exists(backup_relation) }}
  {{ drop_relation_if_exists(temp_relation) }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
