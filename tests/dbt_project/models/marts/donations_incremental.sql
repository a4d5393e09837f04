{{ config(materialized='incremental', unique_key='donation_id') }}

select donation_id, person_id, amount_cents, donated_on
from {{ ref('stg_donations') }}
{% if is_incremental() %}
where donation_id > (select coalesce(max(donation_id), 0) from {{ this }})
{% endif %}
