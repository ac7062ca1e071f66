-- Migration assistant tables. Times are Unix milliseconds.

-- Miva Connect orders whose order number was already shipped from the legacy store,
-- recorded by `storebridge migrate scan` and read by the proxy's double-ship guard.
CREATE TABLE double_ship_orders (
    connect_order_id BIGINT PRIMARY KEY,
    connect_store_id BIGINT NOT NULL,
    order_number TEXT NOT NULL,
    legacy_order_id BIGINT NOT NULL,
    legacy_ship_date TEXT,
    tracking_number TEXT,
    recorded_at BIGINT NOT NULL
);

-- Named progress markers, such as the modify date a scan of one store reached.
CREATE TABLE migration_cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
