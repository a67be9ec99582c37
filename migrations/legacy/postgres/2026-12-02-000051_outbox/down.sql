DROP TABLE outbox_backfills;
DROP TABLE outbox_versions;
DROP TABLE outbox;
