-- Revenue is a sum of prices: it can never be negative.
select product_id, revenue
from {{ ref('product_sales') }}
where revenue < 0
