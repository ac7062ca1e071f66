-- Webhook relay tables. Times are Unix milliseconds. The PostgreSQL schema must keep the
-- same tables and columns, with BIGINT identity keys in place of AUTOINCREMENT.

CREATE TABLE relay_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 (hex) of the ingress token; the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- ShipStation's webhook ID, set once ShipStation confirmed the subscription.
    upstream_id BIGINT UNIQUE,
    target_url TEXT NOT NULL,
    event TEXT NOT NULL,
    -- The store ID as the subscriber gave it, and as it was sent to ShipStation.
    store_id BIGINT,
    upstream_store_id BIGINT,
    friendly_name TEXT,
    mode TEXT NOT NULL,
    -- pending (subscribing upstream), active, or disabled (the target answered 410).
    state TEXT NOT NULL,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE relay_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Sent as webhook-id, the same on every attempt.
    uid TEXT NOT NULL UNIQUE,
    subscription_id BIGINT NOT NULL REFERENCES relay_subscriptions (id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    -- The body ShipStation sent, and the rewritten body delivered to the subscriber.
    received_body TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- pending, delivered or dead (a dead letter, kept for replay).
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- A worker that claimed the event owns it until this time.
    claimed_until BIGINT,
    last_error TEXT
);

CREATE INDEX relay_events_due ON relay_events (status, next_attempt_at, id);
CREATE INDEX relay_events_subscription ON relay_events (subscription_id);

CREATE TABLE relay_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES relay_events (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    -- The target's HTTP status; NULL when no response arrived.
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    reason TEXT NOT NULL
);

CREATE INDEX relay_attempts_event ON relay_attempts (event_id);
