-- Changes an area makes that another area keeps a copy of (see
-- src/outbox). A row is written in the transaction of the change it
-- describes and delivered, in seq order, to the receiving area, which
-- applies it idempotently: version orders the rows of one (topic, entity),
-- so a stale or repeated delivery changes nothing. Delivered rows are
-- trimmed.
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    entity TEXT NOT NULL,
    version BIGINT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- The last version given to each (topic, entity). Taking the next one
-- locks the row until the writing transaction ends, so the versions of one
-- entity follow the order in which their transactions commit.
CREATE TABLE outbox_versions (
    topic TEXT NOT NULL,
    entity TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (topic, entity)
);

-- One-time fills of a receiving area's copy from data that existed before
-- the outbox did: the name of each fill that has been written to the outbox.
CREATE TABLE outbox_backfills (
    name TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);
