-- Files belong to organisations (issue 22): a file is stored once under its SM3 hash, whoever
-- uploads the same bytes, so each organisation that uploaded it (or that a record referencing it
-- belongs to) has a row here. A file is readable by a caller whose data scope holds an owner.
create table file_owners (
    hash text not null,
    org_id text not null references orgs (org_id),
    uploaded_by text,
    uploaded_at bigint not null,
    primary key (hash, org_id)
);
create index file_owners_org on file_owners (org_id);

-- Files uploaded before this table existed: their owners are the organisations of the records that
-- reference them (a scrap photo may be named `files/<hash>`). A file no record references stays
-- readable by node admins only.
insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select json_extract(e.data, '$.report_file'), e.org_id, e.recorded_by, e.created_at
from events e
where e.kind = 'inspection_result' and json_extract(e.data, '$.report_file') is not null;

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select json_extract(e.data, '$.report_file'), c.org_id, e.recorded_by, e.created_at
from events e
join event_codes ec on ec.ledger_index = e.ledger_index
join cylinders c on c.code = ec.code
where e.kind = 'inspection_result' and json_extract(e.data, '$.report_file') is not null;

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select json_extract(e.data, '$.confirmation.file'), e.org_id, e.recorded_by, e.created_at
from events e
where e.kind = 'deliver' and json_extract(e.data, '$.confirmation.file') is not null;

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select case when j.value like 'files/%' then substr(j.value, 7) else j.value end,
       e.org_id, e.recorded_by, e.created_at
from events e, json_each(e.data, '$.photos') j
where e.kind = 'scrap' and json_type(e.data, '$.photos') = 'array';

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select json_extract(b.body, '$.check.signature'), b.org_id, null, b.created_at
from biz_records b
where b.kind = 'household_check' and json_extract(b.body, '$.check.signature') is not null;

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select j.value, b.org_id, null, b.created_at
from biz_records b, json_each(b.body, '$.check.photos') j
where b.kind = 'household_check' and json_type(b.body, '$.check.photos') = 'array';

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select j.value, b.org_id, null, b.created_at
from biz_records b, json_each(b.body, '$.photos') j
where b.kind = 'rectification' and json_type(b.body, '$.photos') = 'array';

insert or ignore into file_owners (hash, org_id, uploaded_by, uploaded_at)
select json_extract(b.body, '$.file'), b.org_id, null, b.created_at
from biz_records b
where b.kind in ('org_doc', 'cylinder_doc') and json_extract(b.body, '$.file') is not null;
