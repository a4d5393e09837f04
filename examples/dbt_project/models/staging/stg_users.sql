select
    id as user_id,
    name,
    email,
    age,
    gender,
    nationality,
    occupation,
    cast(created_at as timestamp) as signed_up_at
from {{ source('raw', 'users') }}
