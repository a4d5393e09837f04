select
    id as product_id,
    make,
    model,
    year,
    cast(price as numeric) as price
from {{ source('raw', 'products') }}
