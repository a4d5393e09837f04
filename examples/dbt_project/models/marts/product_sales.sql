-- Paid purchases, returns and revenue (paid and kept) per product.
select
    pr.product_id,
    pr.make,
    pr.model,
    pr.year,
    count(case when p.is_paid then 1 end) as purchases,
    count(case when p.is_returned then 1 end) as returns,
    coalesce(sum(case when p.is_paid and not p.is_returned then pr.price end), 0) as revenue
from {{ ref('stg_products') }} as pr
left join {{ ref('stg_purchases') }} as p on p.product_id = pr.product_id
group by pr.product_id, pr.make, pr.model, pr.year
