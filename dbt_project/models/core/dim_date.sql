-- The calendar: one row per day 2010-2040 (CE), with Thai calendar attributes.
with days as (
    select d::date as date_day
    from generate_series('2010-01-01'::date, '2040-12-31'::date, interval '1 day') as d
),

months (month_no, month_name_th, month_abbr_th, month_name_en) as (
    values
    (1, 'มกราคม', 'ม.ค.', 'January'), (2, 'กุมภาพันธ์', 'ก.พ.', 'February'),
    (3, 'มีนาคม', 'มี.ค.', 'March'), (4, 'เมษายน', 'เม.ย.', 'April'),
    (5, 'พฤษภาคม', 'พ.ค.', 'May'), (6, 'มิถุนายน', 'มิ.ย.', 'June'),
    (7, 'กรกฎาคม', 'ก.ค.', 'July'), (8, 'สิงหาคม', 'ส.ค.', 'August'),
    (9, 'กันยายน', 'ก.ย.', 'September'), (10, 'ตุลาคม', 'ต.ค.', 'October'),
    (11, 'พฤศจิกายน', 'พ.ย.', 'November'), (12, 'ธันวาคม', 'ธ.ค.', 'December')
)

select
    d.date_day,
    extract(year from d.date_day)::int as year_ce,
    {{ be_year('d.date_day') }} as year_be,
    extract(month from d.date_day)::int as month_no,
    m.month_name_th,
    m.month_abbr_th,
    m.month_name_en,
    extract(day from d.date_day)::int as day_of_month,
    extract(isodow from d.date_day)::int as iso_day_of_week,
    extract(isodow from d.date_day) in (6, 7) as is_weekend,
    date_trunc('month', d.date_day)::date as month_start,
    {{ fiscal_year_be('d.date_day') }} as fiscal_year_be,
    {{ fiscal_quarter('d.date_day') }} as fiscal_quarter,
    (d.date_day - {{ fiscal_year_start(fiscal_year_be('d.date_day')) }}) + 1 as day_of_fiscal_year,
    {{ allowance_deadline("date_trunc('month', d.date_day)") }} as allowance_payment_deadline,
    extract(month from d.date_day) in ({{ var('rabies_campaign_months') | join(', ') }})
        as is_rabies_campaign_month,
    extract(day from d.date_day)::int || ' ' || m.month_abbr_th || ' ' || {{ be_year('d.date_day') }}
        as date_th
from days as d
inner join months as m on m.month_no = extract(month from d.date_day)
