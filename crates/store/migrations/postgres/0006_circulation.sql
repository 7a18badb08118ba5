-- Circulation (issue 6), in step with SQLite's 0006: business records kept as JSON with the few
-- columns queries need, reported vehicle positions, and the stock and holder columns of the cylinder
-- projection.

-- A record's `key` is unique per kind when given; records without one never collide (NULLs are
-- distinct in a unique index).
create table biz_records (
    record_id text primary key,
    kind text not null,
    org_id text not null references orgs (org_id),
    key text,
    ref_id text,
    state text not null,
    due bigint,
    body text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index biz_records_key on biz_records (kind, key);
create index biz_records_org on biz_records (kind, org_id);
create index biz_records_ref on biz_records (kind, ref_id);
create index biz_records_due on biz_records (kind, state, due);

create table vehicle_positions (
    vehicle_id text not null,
    org_id text not null,
    time_us bigint not null,
    lat double precision not null,
    lon double precision not null,
    speed double precision,
    heading double precision,
    created_at bigint not null,
    primary key (vehicle_id, time_us)
);

-- `status` is JSON kept as text (0001).
alter table cylinders add column site_id text;
alter table cylinders add column holder text;
update cylinders set site_id = (status::jsonb) ->> 'site_id', holder = (status::jsonb) ->> 'holder';
create index cylinders_site on cylinders (site_id, location_kind);
create index cylinders_holder on cylinders (holder);
