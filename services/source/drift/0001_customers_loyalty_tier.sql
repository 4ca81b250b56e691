-- A release of the source application adds a nullable column; change capture, the
-- lakehouse and the warehouse must carry it through without stopping.
ALTER TABLE shop.customers ADD COLUMN loyalty_tier text
    CHECK (loyalty_tier IN ('bronze', 'silver', 'gold'));
