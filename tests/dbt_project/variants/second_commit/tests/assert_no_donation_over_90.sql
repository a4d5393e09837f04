-- Fails on purpose: one donation in the seed is 100.00.
select * from {{ ref('stg_donations') }} where amount > 90
