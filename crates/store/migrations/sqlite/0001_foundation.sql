-- Foundation schema (SQLite). Times are microseconds since the Unix epoch (UTC); dates are
-- 'YYYY-MM-DD' text (China calendar). Every table with organisation data carries org_id.
create table orgs (
    org_id text primary key,
    kind text not null,
    name text not null,
    region_code text not null,
    parent_id text references orgs (org_id),
    credit_code text,
    licences text not null,
    path text not null unique,
    created_at bigint not null
);

create table sites (
    site_id text primary key,
    org_id text not null references orgs (org_id),
    kind text not null,
    name text not null,
    address text,
    lat double precision,
    lon double precision,
    created_at bigint not null
);
create index sites_org on sites (org_id);

create table users (
    user_id text primary key,
    org_id text not null references orgs (org_id),
    username text not null unique,
    password_hash text not null,
    name text not null,
    roles text not null,
    failed_logins bigint not null default 0,
    locked_until bigint,
    created_at bigint not null
);
create index users_org on users (org_id);

create table tokens (
    token_hash text primary key,
    user_id text not null references users (user_id),
    expires_at bigint not null,
    created_at bigint not null
);

create table cylinders (
    cylinder_id integer primary key autoincrement,
    code text not null unique,
    org_id text not null references orgs (org_id),
    archive text not null,
    status text not null,
    state text not null,
    location_kind text not null,
    next_check_date text,
    created_at bigint not null,
    updated_at bigint not null
);
create index cylinders_org on cylinders (org_id);

create table events (
    ledger_index bigint primary key,
    event_id text not null unique,
    kind text not null,
    codes text not null,
    time_us bigint not null,
    site_id text,
    operator text,
    device text,
    lat double precision,
    lon double precision,
    data text not null,
    org_id text not null references orgs (org_id),
    recorded_by text,
    created_at bigint not null
);

create table event_codes (
    code text not null,
    ledger_index bigint not null references events (ledger_index),
    time_us bigint not null,
    org_id text not null,
    created_at bigint not null,
    primary key (code, ledger_index)
);

create table audit (
    audit_id integer primary key autoincrement,
    at bigint not null,
    user_id text,
    username text,
    org_id text,
    org_path text,
    method text not null,
    path text not null,
    status bigint not null,
    ip text,
    detail text,
    created_at bigint not null
);
create index audit_at on audit (at);
create index audit_org_path on audit (org_path);
