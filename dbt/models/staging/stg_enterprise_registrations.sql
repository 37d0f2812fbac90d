-- 企业登记注册信息 (KC-SCJG-001): one row per uscc, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'enterprise_registrations')) }}

),

selected as (

    select
        uscc,
        enterprise_name,
        enterprise_type,
        industry,
        registered_capital,
        established_on,
        street,
        legal_representative,
        contact_phone,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['uscc']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
