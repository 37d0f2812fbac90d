-- 专利授权信息 (KC-ZSCQ-001): one row per patent_no, from every validated batch.
-- A key sent again in a later file (an overlapping re-delivery) keeps the row of the
-- latest validated batch, so re-loading never duplicates.

with

source as (

    select * from {{ validated_source(source('validated', 'patent_grants')) }}

),

selected as (

    select
        patent_no,
        title,
        patent_type,
        holder_name,
        holder_uscc,
        granted_on,
        ipc_main,
        _row,
        _batch,
        _loaded_at

    from source

),

deduplicated as (

    {{ latest_per_key('selected', ['patent_no']) }}

),

final as (

    select * exclude (_row) from deduplicated

)

select * from final
