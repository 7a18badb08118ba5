-- The uplink and the /PS interface (issue 5): the outbox of records waiting for the upstream, the
-- documents the /PS interface keeps, the leaves and checkpoints lower nodes declared (this node as
-- their witness), alarms for the regulator that are not about one cylinder, and node settings.

-- One row per event of an uplink kind, written in the event's own append transaction: the uplink
-- worker sends pending rows in outbox order (= log order).
create table outbox (
    outbox_id integer primary key autoincrement,
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

-- Registration applications, spot checks, inspection applications, month counts … as JSON.
-- A caller's ThirdId is unique per (kind, org_id); documents without one never collide.
create table ps_docs (
    doc_id integer primary key autoincrement,
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

-- The leaf hash a lower node (logged in as user_id) declared for each record it uploaded.
create table ps_leaves (
    user_id text not null,
    ledger_index bigint not null,
    leaf_hash blob not null,
    event_id text not null,
    audited boolean not null default false,
    created_at bigint not null,
    primary key (user_id, ledger_index)
);

-- Verified checkpoints of lower nodes' ledgers: append-only, the evidence when one rewrites history.
create table ps_witness (
    seq integer primary key autoincrement,
    user_id text not null,
    origin text not null,
    size bigint not null,
    root blob not null,
    text text not null,
    signature blob not null,
    public_key blob not null,
    received_at bigint not null,
    created_at bigint not null
);
create index ps_witness_user_size on ps_witness (user_id, size);
create trigger ps_witness_no_update before update on ps_witness begin select raise(abort, 'ps_witness is append-only'); end;
create trigger ps_witness_no_delete before delete on ps_witness begin select raise(abort, 'ps_witness is append-only'); end;

-- Alarms for the regulator that are not about one cylinder (ledger tamper, month count mismatch,
-- stale or refused uplink).
create table reg_alarms (
    alarm_id integer primary key autoincrement,
    org_id text not null references orgs (org_id),
    kind text not null,
    message text not null,
    at bigint not null,
    created_at bigint not null
);
create index reg_alarms_org_at on reg_alarms (org_id, at);

-- Node settings changed at run time (key → value).
create table settings (
    key text primary key,
    value text not null,
    updated_at bigint not null
);

-- GenericBottle/List?lasttime= reads archives by change time.
create index cylinders_updated on cylinders (updated_at);
