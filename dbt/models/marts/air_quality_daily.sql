-- Daily air quality index per monitoring station, after HJ 633-2012:
--   IAQI_P = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C_P - BP_Lo) + IAQI_Lo, rounded up,
--   AQI = max(IAQI_P) over SO2, NO2, PM10, CO, PM2.5 (24-hour means), O3 (daily maximum
--   1-hour value and daily maximum 8-hour moving mean), primary pollutant(s) the ones at
--   the maximum when AQI > 50.
-- A 24-hour mean counts only when it rests on at least var('aqi_min_hours_24h') hourly
-- values (GB 3095-2012), and a day gets an AQI only when the station reported that many
-- hours. Concentrations above the top breakpoint score 500; an 8-hour ozone mean above
-- 800 μg/m³ has no IAQI of its own (the 1-hour ozone IAQI covers it, as the standard says).

{%- set min_hours = var('aqi_min_hours_24h') %}

with

station_days as (

    select * from {{ ref('int_air_quality__station_days') }}

),

breakpoints as (

    select * from {{ ref('aqi_breakpoints') }}

),

categories as (

    select * from {{ ref('aqi_categories') }}

),

valid_concentrations as (

    select
        station_code,
        date,
        case when pm25_hours >= {{ min_hours }} then pm25_mean end as pm25_24h,
        case when pm10_hours >= {{ min_hours }} then pm10_mean end as pm10_24h,
        case when so2_hours >= {{ min_hours }} then so2_mean end as so2_24h,
        case when no2_hours >= {{ min_hours }} then no2_mean end as no2_24h,
        case when co_hours >= {{ min_hours }} then co_mean end as co_24h,
        o3_1h_max as o3_1h,
        o3_8h_max as o3_8h

    from station_days
    where hours_reported >= {{ min_hours }}

),

concentrations as (

    -- one row per station, day and pollutant that has a valid concentration
    select
        station_code,
        date,
        pollutant,
        concentration

    from valid_concentrations
    unpivot (
        concentration for pollutant in (pm25_24h, pm10_24h, so2_24h, no2_24h, co_24h, o3_1h, o3_8h)
    )

),

individual_indexes as (

    select
        concentrations.station_code,
        concentrations.date,
        concentrations.pollutant,
        breakpoints.label,
        cast(ceil(round(
            breakpoints.iaqi_lo
            + (
                (breakpoints.iaqi_hi - breakpoints.iaqi_lo)
                * (least(concentrations.concentration, breakpoints.bp_hi) - breakpoints.bp_lo)
                / (breakpoints.bp_hi - breakpoints.bp_lo)
            ),
            6  -- so that 99.99999999 from floating point does not round up to 101
        )) as integer) as iaqi

    from concentrations
    inner join breakpoints
        on concentrations.pollutant = breakpoints.pollutant
        and (concentrations.concentration > breakpoints.bp_lo or breakpoints.bp_lo = 0)
        -- the top segment (IAQI 500) also takes everything above its breakpoint
        and (concentrations.concentration <= breakpoints.bp_hi or breakpoints.iaqi_hi = 500)

),

daily_indexes as (

    select
        station_code,
        date,
        max(iaqi) filter (where pollutant = 'pm25_24h') as iaqi_pm25,
        max(iaqi) filter (where pollutant = 'pm10_24h') as iaqi_pm10,
        max(iaqi) filter (where pollutant = 'so2_24h') as iaqi_so2,
        max(iaqi) filter (where pollutant = 'no2_24h') as iaqi_no2,
        max(iaqi) filter (where pollutant = 'co_24h') as iaqi_co,
        max(iaqi) filter (where pollutant = 'o3_1h') as iaqi_o3_1h,
        max(iaqi) filter (where pollutant = 'o3_8h') as iaqi_o3_8h,
        max(iaqi) as aqi

    from individual_indexes
    group by station_code, date

),

primary_pollutants as (

    select
        individual_indexes.station_code,
        individual_indexes.date,
        string_agg(individual_indexes.label, ',' order by individual_indexes.label) as primary_pollutant

    from individual_indexes
    inner join daily_indexes
        on individual_indexes.station_code = daily_indexes.station_code
        and individual_indexes.date = daily_indexes.date
        and individual_indexes.iaqi = daily_indexes.aqi
    where daily_indexes.aqi > 50
    group by individual_indexes.station_code, individual_indexes.date

),

final as (

    select
        station_days.date,
        station_days.station_code,
        station_days.station_name,
        station_days.hours_reported,
        station_days.pm25_mean,
        station_days.pm10_mean,
        station_days.so2_mean,
        station_days.no2_mean,
        station_days.co_mean,
        station_days.o3_mean,
        station_days.o3_1h_max,
        station_days.o3_8h_max,
        daily_indexes.iaqi_pm25,
        daily_indexes.iaqi_pm10,
        daily_indexes.iaqi_so2,
        daily_indexes.iaqi_no2,
        daily_indexes.iaqi_co,
        daily_indexes.iaqi_o3_1h,
        daily_indexes.iaqi_o3_8h,
        daily_indexes.aqi,
        categories.aqi_level,
        categories.aqi_category,
        primary_pollutants.primary_pollutant

    from station_days
    left join daily_indexes
        on station_days.station_code = daily_indexes.station_code
        and station_days.date = daily_indexes.date
    left join primary_pollutants
        on station_days.station_code = primary_pollutants.station_code
        and station_days.date = primary_pollutants.date
    left join categories
        on daily_indexes.aqi between categories.aqi_lo and categories.aqi_hi

)

select * from final
order by date, station_code
