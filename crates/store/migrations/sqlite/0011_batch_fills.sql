-- Fills grouped by batch (B5, issue 17): a batch's page lists the fills that name it in `data.batch`
-- and counts them. The fills of one batch are found through this index over the batch number of
-- fill events only, in time order, never by reading every event. The expression is written exactly
-- as the store's queries write it (`Backend::json_text`), so that they use it.
create index events_fill_batch on events (json_extract(data, '$.batch'), time_us) where kind = 'fill';
