-- What the shop publishes for change data capture (the replication role reads it through
-- a logical replication slot). Owned by the application, like the tables it names.
CREATE PUBLICATION shop_cdc FOR TABLE
    shop.customers, shop.addresses, shop.products, shop.orders, shop.order_items, shop.payments;
