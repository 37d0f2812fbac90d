-- 智能井盖传感器告警 (KC-CSGL-001): one row per alarm_id, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'manhole_cover_alarms')) }}

),

selected as (

    select
        alarm_id,
        device_id,
        alarm_type,
        alarm_at,
        longitude,
        latitude,
        tilt_deg,
        battery_pct,
        status,
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
