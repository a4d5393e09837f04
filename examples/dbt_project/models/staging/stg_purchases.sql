select
    id as purchase_id,
    user_id,
    product_id,
    cast(added_to_cart_at as timestamp) as added_to_cart_at,
    cast(purchased_at as timestamp) as purchased_at,
    cast(returned_at as timestamp) as returned_at,
    purchased_at is not null as is_paid,
    returned_at is not null as is_returned
from {{ source('raw', 'purchases') }}
