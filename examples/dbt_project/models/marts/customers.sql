-- Purchases and spend per user; users who bought nothing are kept with zeros.
select
    u.user_id,
    u.name,
    u.nationality,
    count(case when p.is_paid then 1 end) as purchases,
    count(case when p.is_returned then 1 end) as returns,
    coalesce(sum(case when p.is_paid and not p.is_returned then pr.price end), 0) as spend
from {{ ref('stg_users') }} as u
left join {{ ref('stg_purchases') }} as p on p.user_id = u.user_id
left join {{ ref('stg_products') }} as pr on pr.product_id = p.product_id
group by u.user_id, u.name, u.nationality
