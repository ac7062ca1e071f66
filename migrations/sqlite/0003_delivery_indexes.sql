-- Indexes for the delivery worker, which queries the store on every pass while the ingress
-- inserts. `SqliteStorage` names both in `INDEXED BY`, so dropping one breaks its query.

-- Pending events in ID order, with the columns a claim filters on. A claim takes the oldest
-- due events, so it reads the first rows of this index instead of sorting every due event.
CREATE INDEX relay_events_pending_by_id
    ON relay_events (id, next_attempt_at, claimed_until) WHERE status = 'pending';

-- Claimed events, as many as the deliveries in flight, for the worker's next wake-up time.
CREATE INDEX relay_events_claimed ON relay_events (claimed_until) WHERE claimed_until IS NOT NULL;
