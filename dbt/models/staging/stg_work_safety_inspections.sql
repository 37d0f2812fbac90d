-- 安全生产监督检查记录 (KC-YJGL-001): one row per inspection_no, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'work_safety_inspections')) }}

),

selected as (

    select
        inspection_no,
        enterprise_uscc,
        enterprise_name,
        inspected_on,
        inspector,
        hazards_found,
        hazard_level,
        rectification_status,
        rectification_due,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['inspection_no']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
