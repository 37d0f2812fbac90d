-- One row per station and calendar day: the daily concentrations the AQI is computed from,
-- with the number of hourly values behind each (validity is decided in the mart).

with

hourly as (

    select * from {{ ref('stg_air_quality_hourly') }}

),

ozone_8h as (

    -- 8-hour moving mean of ozone ending at each hour, within the same day
    select
        station_code,
        cast(monitored_at as date) as date,
        monitored_at,
        avg(o3) over eight_hours as o3_8h,
        count(o3) over eight_hours as o3_8h_hours

    from hourly
    window eight_hours as (
        partition by station_code, cast(monitored_at as date)
        order by monitored_at
        range between interval 7 hours preceding and current row
    )

),

ozone_8h_daily as (

    -- daily maximum over the windows that fit in the day (ending 07:00 … 23:00) and hold
    -- enough hourly values
    select
        station_code,
        date,
        max(o3_8h) as o3_8h_max

    from ozone_8h
    where
        hour(monitored_at) >= 7
        and o3_8h_hours >= {{ var('aqi_min_hours_8h') }}
    group by station_code, date

),

daily as (

    select
        station_code,
        cast(monitored_at as date) as date,
        arg_max(station_name, monitored_at) as station_name,
        count(distinct date_trunc('hour', monitored_at)) as hours_reported,

        avg(pm25) as pm25_mean,
        count(pm25) as pm25_hours,
        avg(pm10) as pm10_mean,
        count(pm10) as pm10_hours,
        avg(so2) as so2_mean,
        count(so2) as so2_hours,
        avg(no2) as no2_mean,
        count(no2) as no2_hours,
        avg(co) as co_mean,
        count(co) as co_hours,
        avg(o3) as o3_mean,
        count(o3) as o3_hours,
        max(o3) as o3_1h_max

    from hourly
    group by station_code, cast(monitored_at as date)

),

joined as (

    select
        daily.*,
        ozone_8h_daily.o3_8h_max

    from daily
    left join ozone_8h_daily
        on daily.station_code = ozone_8h_daily.station_code
        and daily.date = ozone_8h_daily.date

)

select * from joined
