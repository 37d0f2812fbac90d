-- 空气质量监测站小时数据 (KC-STHJ-001): one row per station_code + monitored_at, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'air_quality_hourly')) }}

),

selected as (

    select
        station_code,
        station_name,
        monitored_at,
        pm25,
        pm10,
        o3,
        no2,
        so2,
        co,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['station_code', 'monitored_at']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
