-- Master data that can change (issue 16): an organisation's phone and address, closed sites, and
-- the regulators' permissions for entrusted filling (B9 委托充装).

alter table orgs add column phone text;
alter table orgs add column address text;

alter table sites add column active boolean not null default true;

create table filling_permissions (
    permission_id text primary key,
    owner_org_id text not null references orgs (org_id),
    filler_org_id text not null references orgs (org_id),
    -- Last day (China calendar, YYYY-MM-DD) on which the filler may fill the owner's cylinders.
    valid_until text not null,
    granted_by text not null,
    granted_org_id text not null references orgs (org_id),
    created_at bigint not null,
    revoked_at bigint,
    revoked_by text
);
create index filling_permissions_pair on filling_permissions (filler_org_id, owner_org_id);
create index filling_permissions_owner on filling_permissions (owner_org_id);
