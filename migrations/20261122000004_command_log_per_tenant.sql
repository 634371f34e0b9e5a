-- Command ids are the client's: scope them to the tenant, so one tenant's
-- ids never collide with (or reveal) another's.
ALTER TABLE command_log DROP CONSTRAINT IF EXISTS command_log_pkey;
ALTER TABLE command_log ADD PRIMARY KEY (tenant_id, command_id);
