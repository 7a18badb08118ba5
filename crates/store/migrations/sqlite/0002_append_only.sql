-- Events, their per-cylinder index and the audit log are append-only: the database itself refuses
-- to change or remove a row, whoever asks (corrections are new events).
create trigger events_no_update before update on events begin select raise(abort, 'events are append-only'); end;
create trigger events_no_delete before delete on events begin select raise(abort, 'events are append-only'); end;
create trigger event_codes_no_update before update on event_codes begin select raise(abort, 'event_codes are append-only'); end;
create trigger event_codes_no_delete before delete on event_codes begin select raise(abort, 'event_codes are append-only'); end;
create trigger audit_no_update before update on audit begin select raise(abort, 'audit is append-only'); end;
create trigger audit_no_delete before delete on audit begin select raise(abort, 'audit is append-only'); end;
