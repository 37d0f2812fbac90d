-- 人才认定登记信息 (KC-RLZY-001): one row per talent_id, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'talent_registry')) }}

),

selected as (

    select
        talent_id,
        full_name,
        id_card_no,
        gender,
        birth_date,
        mobile,
        education,
        talent_category,
        employer_uscc,
        recognised_on,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['talent_id']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
