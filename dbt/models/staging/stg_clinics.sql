-- 医疗机构基本信息 (KC-WSJK-001): one row per institution_code, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'clinics')) }}

),

selected as (

    select
        institution_code,
        institution_name,
        institution_type,
        address,
        beds,
        phone,
        longitude,
        latitude,
        license_valid_until,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['institution_code']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
