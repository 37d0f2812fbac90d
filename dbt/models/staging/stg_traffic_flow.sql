-- 路口交通流量监测数据 (KC-JTYS-001): one row per intersection_code + counted_at + direction, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'traffic_flow')) }}

),

selected as (

    select
        intersection_code,
        intersection_name,
        counted_at,
        direction,
        vehicle_count,
        avg_speed_kmh,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['intersection_code', 'counted_at', 'direction']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
