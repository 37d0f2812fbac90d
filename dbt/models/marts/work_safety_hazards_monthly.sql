-- Work-safety inspections per month (of the inspection date) and hazard level, with the
-- hazards found and how far the inspections that required rectification were rectified.

with

inspections as (

    select * from {{ ref('stg_work_safety_inspections') }}

),

monthly as (

    select
        cast(date_trunc('month', inspected_on) as date) as month,
        hazard_level,
        count(*) as inspections,
        cast(sum(hazards_found) as bigint) as hazards_found,  -- sum(bigint) is a hugeint
        count(*) filter (where rectification_status <> '无需整改') as inspections_to_rectify,
        count(*) filter (where rectification_status = '已整改') as inspections_rectified,
        count(*) filter (where rectification_status = '逾期未整改') as inspections_overdue

    from inspections
    group by all

),

final as (

    select
        *,
        inspections_rectified / nullif(inspections_to_rectify, 0) as rectified_share

    from monthly

)

select * from final
order by month, hazard_level
