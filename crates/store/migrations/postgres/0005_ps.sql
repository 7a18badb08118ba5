-- The uplink and the /PS interface (issue 5), in step with SQLite's 0005: the outbox of records
-- waiting for the upstream, the documents the /PS interface keeps, the leaves and checkpoints lower
-- nodes declared (this node as their witness), regulator alarms, node settings.

create table outbox (
    outbox_id bigserial primary key,
    ledger_index bigint not null unique references events (ledger_index),
    event_id text not null,
    kind text not null,
    state text not null default 'pending' check (state in ('pending', 'sent', 'refused')),
    attempts bigint not null default 0,
    last_error text,
    sent_at bigint,
    created_at bigint not null
);
create index outbox_state on outbox (state, outbox_id);

create table ps_docs (
    doc_id bigserial primary key,
    kind text not null,
    org_id text not null references orgs (org_id),
    target_org_id text,
    third_id text,
    state text not null,
    body text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index ps_docs_third on ps_docs (kind, org_id, third_id);
create index ps_docs_target on ps_docs (target_org_id);

create table ps_leaves (
    user_id text not null,
    ledger_index bigint not null,
    leaf_hash bytea not null,
    event_id text not null,
    audited boolean not null default false,
    created_at bigint not null,
    primary key (user_id, ledger_index)
);

create table ps_witness (
    seq bigserial primary key,
    user_id text not null,
    origin text not null,
    size bigint not null,
    root bytea not null,
    text text not null,
    signature bytea not null,
    public_key bytea not null,
    received_at bigint not null,
    created_at bigint not null
);
create index ps_witness_user_size on ps_witness (user_id, size);
create trigger ps_witness_append_only before update or delete on ps_witness
    for each row execute function cyltrace_append_only();

create table reg_alarms (
    alarm_id bigserial primary key,
    org_id text not null references orgs (org_id),
    kind text not null,
    message text not null,
    at bigint not null,
    created_at bigint not null
);
create index reg_alarms_org_at on reg_alarms (org_id, at);

create table settings (
    key text primary key,
    value text not null,
    updated_at bigint not null
);

-- GenericBottle/List?lasttime= reads archives by change time.
create index cylinders_updated on cylinders (updated_at);
