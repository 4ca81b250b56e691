-- An order's net amount (sum of quantity * unit_price - discount over its lines) is never
-- negative, and neither is any line's: a discount never exceeds its line's gross amount.
select 'order' as grain, order_id as id, net_amount
from {{ ref('fct_orders') }}
where net_amount < 0

union all

select 'order_item' as grain, order_item_id as id, net_amount
from {{ ref('fct_order_items') }}
where net_amount < 0
