{#-
  unique_combination: no two rows share the same values of `columns` (a compound key).
  Usage on a model:  data_tests: [{unique_combination: {arguments: {columns: [a, b]}}}]
  NULLs compare equal here (group by), so a NULL in a key column counts as a value;
  pair it with not_null on the key columns.
-#}
{% test unique_combination(model, columns) %}

with

keyed as (

    select {{ columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}

)

select * from keyed
where n_rows > 1

{% endtest %}
