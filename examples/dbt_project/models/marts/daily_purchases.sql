-- Paid purchases per day.
select
    cast(purchased_at as date) as purchase_date,
    count(*) as purchases
from {{ ref('stg_purchases') }}
where is_paid
group by cast(purchased_at as date)
