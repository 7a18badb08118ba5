-- Files belong to organisations (issue 22), in step with SQLite's 0014: a file is stored once under
-- its SM3 hash, whoever uploads the same bytes, so each organisation that uploaded it (or that a
-- record referencing it belongs to) has a row here. A file is readable by a caller whose data scope
-- holds an owner.
create table file_owners (
    hash text not null,
    org_id text not null references orgs (org_id),
    uploaded_by text,
    uploaded_at bigint not null,
    primary key (hash, org_id)
);
create index file_owners_org on file_owners (org_id);

-- Files uploaded before this table existed: their owners are the organisations of the records that
-- reference them. A file no record references stays readable by node admins only.
insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select e.data::jsonb ->> 'report_file', e.org_id, e.recorded_by, e.created_at
from events e
where e.kind = 'inspection_result' and e.data::jsonb ->> 'report_file' is not null
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select e.data::jsonb ->> 'report_file', c.org_id, e.recorded_by, e.created_at
from events e
join event_codes ec on ec.ledger_index = e.ledger_index
join cylinders c on c.code = ec.code
where e.kind = 'inspection_result' and e.data::jsonb ->> 'report_file' is not null
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select e.data::jsonb -> 'confirmation' ->> 'file', e.org_id, e.recorded_by, e.created_at
from events e
where e.kind = 'deliver' and e.data::jsonb -> 'confirmation' ->> 'file' is not null
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select regexp_replace(j.value, '^files/', ''), e.org_id, e.recorded_by, e.created_at
from events e, jsonb_array_elements_text(
    case when jsonb_typeof(e.data::jsonb -> 'photos') = 'array' then e.data::jsonb -> 'photos' else '[]'::jsonb end) j(value)
where e.kind = 'scrap' and jsonb_typeof(e.data::jsonb -> 'photos') = 'array'
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select b.body::jsonb -> 'check' ->> 'signature', b.org_id, null, b.created_at
from biz_records b
where b.kind = 'household_check' and b.body::jsonb -> 'check' ->> 'signature' is not null
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select j.value, b.org_id, null, b.created_at
from biz_records b, jsonb_array_elements_text(
    case when jsonb_typeof(b.body::jsonb -> 'check' -> 'photos') = 'array' then b.body::jsonb -> 'check' -> 'photos' else '[]'::jsonb end) j(value)
where b.kind = 'household_check' and jsonb_typeof(b.body::jsonb -> 'check' -> 'photos') = 'array'
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select j.value, b.org_id, null, b.created_at
from biz_records b, jsonb_array_elements_text(
    case when jsonb_typeof(b.body::jsonb -> 'photos') = 'array' then b.body::jsonb -> 'photos' else '[]'::jsonb end) j(value)
where b.kind = 'rectification' and jsonb_typeof(b.body::jsonb -> 'photos') = 'array'
on conflict do nothing;

insert into file_owners (hash, org_id, uploaded_by, uploaded_at)
select b.body::jsonb ->> 'file', b.org_id, null, b.created_at
from biz_records b
where b.kind in ('org_doc', 'cylinder_doc') and b.body::jsonb ->> 'file' is not null
on conflict do nothing;
