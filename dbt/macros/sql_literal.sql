{#-
  sql_literal(value): `value` as a SQL string literal, its quotes doubled. The one quoting rule of
  the dbt side, the same as common/sqltext.py's `literal` on the Python side: every file name or
  glob a macro puts into SQL goes through it.
-#}
{% macro sql_literal(value) -%}
  {{- "'" ~ (value | string | replace("'", "''")) ~ "'" -}}
{%- endmacro %}
