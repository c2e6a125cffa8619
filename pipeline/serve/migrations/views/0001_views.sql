-- Materialized views of trustloop's derived streams, for Grafana and other SQL tools. The same DDL
-- serves SQLite and PostgreSQL. Times are microseconds since the Unix epoch (event time).

-- Where the views have read each topic-partition to: updated in the same transaction as the rows,
-- so the views hold each event exactly once across restarts.
CREATE TABLE view_positions (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- The latest trust score of every entity.
CREATE TABLE trust_scores (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    previous DOUBLE PRECISION,
    event_time_us BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant, entity)
);

-- The current verdict of every subject.
CREATE TABLE verdicts (
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    previous TEXT,
    policy_digest TEXT NOT NULL,
    evidence_digest TEXT NOT NULL,
    event_time_us BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant, subject)
);

-- Every verdict, as it was decided.
CREATE TABLE verdict_changes (
    event_id TEXT NOT NULL PRIMARY KEY,
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    previous TEXT,
    event_time_us BIGINT NOT NULL
);
CREATE INDEX verdict_changes_by_time ON verdict_changes (tenant, event_time_us);

-- Every enforcement action in its latest lifecycle state.
CREATE TABLE actions (
    tenant TEXT NOT NULL,
    action_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    reason TEXT NOT NULL,
    event_time_us BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant, action_id)
);

-- The open findings: which advisories affect which releases (closed ones are removed).
CREATE TABLE findings (
    tenant TEXT NOT NULL,
    release_name TEXT NOT NULL,
    release_version TEXT NOT NULL,
    environment TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    purl TEXT NOT NULL,
    package_name TEXT NOT NULL,
    package_version TEXT NOT NULL,
    -- As the advisory gives it: a rating label, a CVSS vector or a score.
    severity TEXT,
    -- Its band on the CVSS rating scale: none, low, medium, high, critical, or unknown.
    severity_band TEXT NOT NULL,
    vex_status TEXT NOT NULL,
    event_time_us BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant, release_name, release_version, environment, advisory_id, purl)
);
