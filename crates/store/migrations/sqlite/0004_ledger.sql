-- The ledger (DESIGN §3): the Merkle tree over the events, stored as C2SP tiles, and the signed
-- checkpoints. Leaf i is the canonical encoding of the event with ledger_index i.

-- The parameters a log is born with (hash algorithm, origin). They never change afterwards.
create table ledger_meta (
    key text primary key,
    value text not null
);

-- One row per tile (level, index): `hashes` is the tile exactly as C2SP tlog-tiles serves it, the
-- concatenation of `width` 32-byte hashes. A partial tile is rewritten as it grows; full tiles never
-- change.
create table ledger_tiles (
    level integer not null,
    idx bigint not null,
    width integer not null check (width between 1 and 256),
    hashes blob not null,
    primary key (level, idx)
);

-- Signed checkpoints, kept at most about once a minute (and always the first): the history that
-- `cyltrace verify` checks for mutual consistency.
create table ledger_checkpoints (
    seq bigint primary key,
    size bigint not null,
    root blob not null,
    time_us bigint not null,
    text text not null,
    signature blob not null,
    public_key blob not null,
    created_at bigint not null
);
create trigger ledger_checkpoints_no_update before update on ledger_checkpoints begin select raise(abort, 'ledger_checkpoints are append-only'); end;
create trigger ledger_checkpoints_no_delete before delete on ledger_checkpoints begin select raise(abort, 'ledger_checkpoints are append-only'); end;

-- The latest signed checkpoint (one row, replaced each time the signer signs).
create table ledger_latest (
    id integer primary key check (id = 1),
    size bigint not null,
    root blob not null,
    time_us bigint not null,
    text text not null,
    signature blob not null,
    public_key blob not null
);
