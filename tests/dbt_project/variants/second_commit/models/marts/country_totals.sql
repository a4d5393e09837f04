select country, count(*) as donors, sum(total_cents) as total_cents
from {{ ref('donor_totals') }}
group by country
