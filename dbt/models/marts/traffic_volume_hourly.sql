-- Hourly traffic volume per intersection: the 15-minute counts of every approach
-- direction (进口方向) added up per clock hour.

with

flows as (

    select * from {{ ref('stg_traffic_flow') }}

),

hourly as (

    select
        date_trunc('hour', counted_at) as hour,
        intersection_code,
        arg_max(intersection_name, counted_at) as intersection_name,
        cast(sum(vehicle_count) as bigint) as vehicles,  -- sum(bigint) is a hugeint, which Parquet stores as double
        count(distinct counted_at) as slots_reported,
        count(distinct direction) as directions_reported,
        -- mean speed weighted by the vehicles each count stands for
        sum(avg_speed_kmh * vehicle_count)
        / nullif(sum(vehicle_count) filter (where avg_speed_kmh is not null), 0) as mean_speed_kmh

    from flows
    group by date_trunc('hour', counted_at), intersection_code

)

select * from hourly
order by hour, intersection_code
