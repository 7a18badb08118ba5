-- Circulation (issue 6): business records kept as JSON with the few columns queries need (vehicles,
-- staff, waybills, customers, bindings, orders, deposits, household checks, rectification tasks …),
-- reported vehicle positions, and the stock and holder columns of the cylinder projection.

-- A record's `key` (a plate, an identity hash, `customer/org` of a binding) is unique per kind when
-- given; records without one never collide.
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

-- One reported position of a vehicle; a point repeated for the same vehicle and time is kept once.
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

-- Where a cylinder is stocked and who holds it, beside the JSON status they are copied from (written
-- together with it).
alter table cylinders add column site_id text;
alter table cylinders add column holder text;
update cylinders set site_id = json_extract(status, '$.site_id'), holder = json_extract(status, '$.holder');
create index cylinders_site on cylinders (site_id, location_kind);
create index cylinders_holder on cylinders (holder);
