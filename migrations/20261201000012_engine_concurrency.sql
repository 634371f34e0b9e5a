-- Per-workflow concurrency limits of the engine (docs/adr/0009).
--
-- A workflow version may set `settings.concurrency`: at most that many of
-- its executions run at once; the others wait in `engine_executions`,
-- queued (not admitted, due_at NULL), and none is dropped. An execution is
-- admitted by taking a slot in `engine_workflow_slots` (one atomic
-- statement, so two engines never overshoot) and gives it back when it is
-- forgotten (ended, cancelled), which wakes the queued ones.
ALTER TABLE engine_executions
    ADD COLUMN IF NOT EXISTS concurrency integer,
    ADD COLUMN IF NOT EXISTS admitted    boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS engine_workflow_slots (
    workflow_id uuid    PRIMARY KEY,
    running     integer NOT NULL DEFAULT 0 CHECK (running >= 0)
);

-- Forgets an execution (it ended): frees its slot, if it held one, and
-- wakes the queued executions of its workflow. Used by the intake and by
-- the workers, whichever sees the end first.
CREATE OR REPLACE FUNCTION engine_forget(id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    gone record;
BEGIN
    DELETE FROM engine_executions WHERE execution_id = id
        RETURNING workflow_id, admitted, concurrency INTO gone;
    IF FOUND AND gone.admitted AND gone.concurrency IS NOT NULL THEN
        UPDATE engine_workflow_slots SET running = greatest(running - 1, 0)
         WHERE workflow_id = gone.workflow_id;
        UPDATE engine_executions SET due_at = clock_timestamp(), wake_seq = wake_seq + 1
         WHERE workflow_id = gone.workflow_id AND NOT admitted;
        PERFORM pg_notify('jobsprint_engine', '');
    END IF;
END
$$;
