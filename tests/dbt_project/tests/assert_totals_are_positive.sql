-- Every donor with donations has a positive total.
select * from {{ ref('donor_totals') }} where donations > 0 and total_cents <= 0
