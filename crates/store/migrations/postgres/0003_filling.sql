-- Filling control (issue 3), in step with the SQLite migration: every decision with its failing rules, alarms raised by events (overfill),
-- the enterprise's filling batches, and indexes for the record queries.
create table fill_decisions (
    decision_id text primary key,
    at bigint not null,
    user_id text,
    org_id text not null references orgs (org_id),
    site_id text not null references sites (site_id),
    code text not null,
    medium text not null,
    allow boolean not null,
    refusals text not null,
    illegal_label boolean not null,
    fill_limit_kg double precision,
    target_gross_kg double precision,
    created_at bigint not null
);
create index fill_decisions_site_at on fill_decisions (site_id, at);
create index fill_decisions_org_at on fill_decisions (org_id, at);
create index fill_decisions_code on fill_decisions (code);

-- One row per failing rule of a decision, for counts by rule.
create table fill_decision_rules (
    decision_id text not null references fill_decisions (decision_id),
    rule text not null,
    org_id text not null,
    site_id text not null,
    at bigint not null,
    created_at bigint not null,
    primary key (decision_id, rule)
);
create index fill_decision_rules_site_at on fill_decision_rules (site_id, at);

create table alarms (
    alarm_id bigserial primary key,
    kind text not null,
    code text not null,
    event_id text not null,
    org_id text not null references orgs (org_id),
    site_id text,
    message text not null,
    at bigint not null,
    created_at bigint not null
);
create index alarms_org_at on alarms (org_id, at);

create table batches (
    batch_id text primary key,
    org_id text not null references orgs (org_id),
    number text not null,
    name text,
    site_id text references sites (site_id),
    medium text,
    created_by text,
    created_at bigint not null,
    unique (org_id, number)
);

create index events_kind_time on events (kind, time_us);
create index events_site_time on events (site_id, time_us);
create index events_org_time on events (org_id, time_us);
