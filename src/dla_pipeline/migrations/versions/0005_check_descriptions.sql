-- Release 0.3: the description of each check beside its outcome (alerts and the run
-- summary name the check people know, e.g. "sudden drop in reporting LAOs").
alter table ops.quality_results add column if not exists description text;
