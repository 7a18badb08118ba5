-- Accounts people can keep safe (issue 16, G5): a user can be deactivated (its tokens are deleted with
-- it, and a token of an inactive user is never honoured), an admin can set a temporary password that
-- must be changed at the next login, and a user can enrol a TOTP second factor (RFC 6238). The TOTP
-- secret is kept SM4-encrypted under a key derived from the node's personal-data key; `totp_pending`
-- holds the secret of an enrolment not yet confirmed with a first code; `totp_last_step` is the last
-- accepted time step, so that one code is accepted once.
alter table users add column active boolean not null default true;
alter table users add column must_change_password boolean not null default false;
alter table users add column totp_secret text;
alter table users add column totp_pending text;
alter table users add column totp_enabled_at bigint;
alter table users add column totp_last_step bigint;

-- One-time recovery codes of the second factor: only a keyed hash of each is kept; a used code keeps
-- its row with the time it was used.
create table recovery_codes (
    user_id text not null references users (user_id),
    code_hash text not null,
    used_at bigint,
    created_at bigint not null,
    primary key (user_id, code_hash)
);

-- Ending every session of one user at once (deactivation, password change).
create index tokens_user on tokens (user_id);
