-- depends_on: {{ ref('raw_donations') }}
select
    id as donation_id,
    person_id,
    amount,
    {{ dalgo_utils.to_cents('amount') }} as amount_cents,
    cast(donated_on as date) as donated_on
from {{ source('raw', 'raw_donations') }}
