-- Alarms (issue 18, DEVICES.md "Alarm rules and notification", "Leak alarms (C10)"): alarm rules
-- (the request body as JSON, owned by an organisation and applying inside `scope_path`), each
-- rule's evaluation state per device, notification channels (their config JSON holds the secrets,
-- never shown), the alarms raised (at most one open per rule or built-in kind and device: open =
-- active or unacknowledged) and every notification delivery with its attempts and outcome.
create table alarm_rules (
    rule_id text primary key,
    org_id text not null references orgs (org_id),
    scope_path text not null,
    body text not null,
    enabled boolean not null default true,
    created_at bigint not null
);
create index alarm_rules_org on alarm_rules (org_id);

create table rule_states (
    rule_id text not null references alarm_rules (rule_id),
    device_id text not null references devices (device_id),
    state text not null,
    pending boolean not null default false,
    primary key (rule_id, device_id)
);
create index rule_states_pending on rule_states (pending);

create table notify_channels (
    channel_id text primary key,
    org_id text not null references orgs (org_id),
    kind text not null,
    name text not null,
    config text not null,
    deleted boolean not null default false,
    created_at bigint not null
);
create index notify_channels_org on notify_channels (org_id);

create table device_alarms (
    alarm_id text primary key,
    rule_id text references alarm_rules (rule_id),
    kind text not null,
    device_id text not null references devices (device_id),
    org_id text not null references orgs (org_id),
    customer_id text,
    severity text not null,
    active boolean not null,
    acked boolean not null default false,
    acked_by text,
    acked_at bigint,
    raised_at bigint not null,
    updated_at bigint not null,
    cleared_at bigint,
    count bigint not null default 1,
    detail text not null
);
-- One open alarm per rule (or built-in kind) and device.
create unique index device_alarms_open on device_alarms (coalesce(rule_id, kind), device_id)
    where active or not acked;
create index device_alarms_org on device_alarms (org_id, raised_at);
create index device_alarms_device on device_alarms (device_id);

create table notify_deliveries (
    delivery_id text primary key,
    alarm_id text not null references device_alarms (alarm_id),
    channel_id text not null references notify_channels (channel_id),
    phase text not null,
    attempt integer not null default 0,
    state text not null,
    next_at bigint not null,
    sent_at bigint,
    error text,
    created_at bigint not null
);
create index notify_deliveries_due on notify_deliveries (state, next_at);
create index notify_deliveries_alarm on notify_deliveries (alarm_id, channel_id);
create index notify_deliveries_sent on notify_deliveries (channel_id, sent_at);
