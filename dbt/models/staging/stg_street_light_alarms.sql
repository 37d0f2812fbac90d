-- 路灯单灯控制器故障告警 (KC-CSGL-002): one row per alarm_id, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'street_light_alarms')) }}

),

selected as (

    select
        alarm_id,
        lamp_id,
        road,
        alarm_at,
        fault_type,
        voltage_v,
        current_a,
        repaired,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['alarm_id']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
