-- depends_on: {{ ref('raw_people') }}
select
    id as person_id,
    trim(name) as name,
    country
from {{ source('raw', 'raw_people') }}
