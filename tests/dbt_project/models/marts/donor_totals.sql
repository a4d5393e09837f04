select
    p.person_id,
    p.name,
    p.country,
    count(d.donation_id) as donations,
    sum(d.amount_cents) as total_cents
from {{ ref('stg_people') }} as p
left join {{ ref('stg_donations') }} as d on d.person_id = p.person_id
group by p.person_id, p.name, p.country
