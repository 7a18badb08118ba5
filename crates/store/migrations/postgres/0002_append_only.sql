-- Events, their per-cylinder index and the audit log are append-only: the database itself refuses
-- to change or remove a row, whoever asks (corrections are new events). In step with SQLite's 0002.
create function cyltrace_append_only() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name;
end
$$;
create trigger events_append_only before update or delete on events
    for each row execute function cyltrace_append_only();
create trigger event_codes_append_only before update or delete on event_codes
    for each row execute function cyltrace_append_only();
create trigger audit_append_only before update or delete on audit
    for each row execute function cyltrace_append_only();
