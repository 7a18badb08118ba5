-- The ledger (DESIGN §3): the Merkle tree over the events, stored as C2SP tiles, and the signed
-- checkpoints. In step with SQLite's 0004.

create table ledger_meta (
    key text primary key,
    value text not null
);

create table ledger_tiles (
    level integer not null,
    idx bigint not null,
    width integer not null check (width between 1 and 256),
    hashes bytea not null,
    primary key (level, idx)
);

create table ledger_checkpoints (
    seq bigint primary key,
    size bigint not null,
    root bytea not null,
    time_us bigint not null,
    text text not null,
    signature bytea not null,
    public_key bytea not null,
    created_at bigint not null
);
create trigger ledger_checkpoints_append_only before update or delete on ledger_checkpoints
    for each row execute function cyltrace_append_only();

create table ledger_latest (
    id integer primary key check (id = 1),
    size bigint not null,
    root bytea not null,
    time_us bigint not null,
    text text not null,
    signature bytea not null,
    public_key bytea not null
);
