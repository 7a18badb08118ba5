-- Devices (issue 18, DEVICES.md): user-defined device types (the built-ins live in the code), the
-- registry with each device's secret hash, binding, status and counters and its latest property
-- values, device events (stored once per id) and telemetry (kept `telemetry_retention_days`).
create table device_types (
    type_id text primary key,
    org_id text references orgs (org_id),
    name text not null,
    model text not null,
    created_at bigint not null
);

create table devices (
    device_id text primary key,
    org_id text not null references orgs (org_id),
    type_id text not null,
    site_id text references sites (site_id),
    name text not null,
    serial text,
    grp text,
    tags text not null default '[]',
    customer_id text,
    vehicle text,
    channel_id text,
    position integer,
    phone text,
    stream_url text,
    secret_hash text not null,
    disabled boolean not null default false,
    created_at bigint not null,
    last_seen bigint,
    online boolean not null default false,
    up_count bigint not null default 0,
    down_count bigint not null default 0,
    bad_count bigint not null default 0,
    properties text not null default '{}'
);
create index devices_org on devices (org_id);
create index devices_site on devices (site_id);
create unique index devices_phone on devices (phone) where phone is not null;

create table device_events (
    event_id text primary key,
    device_id text not null references devices (device_id),
    event text not null,
    time bigint not null,
    output text,
    recorded_at bigint not null
);
create index device_events_device on device_events (device_id, time);

create table telemetry (
    device_id text not null references devices (device_id),
    property text not null,
    time bigint not null,
    value text not null,
    primary key (device_id, property, time)
);
create index telemetry_time on telemetry (time);
