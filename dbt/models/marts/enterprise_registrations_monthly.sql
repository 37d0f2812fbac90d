-- Enterprises registered per month, industry (行业门类) and street (所在街道), by the month of
-- their establishment date (成立日期).

with

registrations as (

    select * from {{ ref('stg_enterprise_registrations') }}

),

monthly as (

    select
        cast(date_trunc('month', established_on) as date) as month,
        industry,
        street,
        count(*) as enterprises,
        sum(registered_capital) as registered_capital_total

    from registrations
    group by all

)

select * from monthly
order by month, industry, street nulls last
