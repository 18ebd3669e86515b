-- Login throttling counters, shared by every instance on the database.
CREATE TABLE throttle (
    key          TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    count        BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL DEFAULT 0,
    strikes      BIGINT  NOT NULL DEFAULT 0
);
