{#-
  latest_per_key(relation, key): one row per key value, the one from the latest validated batch.

  A department that re-sends overlapping data (a corrected file, an overlapping delivery) never
  duplicates a key: the row of the newest `_loaded_at` wins, then the later row of that file.
  governance/open_view.py applies the same rule when it builds the publishable view.
-#}
{% macro latest_per_key(relation, key) -%}
    select * from {{ relation }}
    qualify row_number() over (
        partition by {{ key | join(', ') }}
        order by _loaded_at desc, _row desc, _batch desc
    ) = 1
{%- endmacro %}
