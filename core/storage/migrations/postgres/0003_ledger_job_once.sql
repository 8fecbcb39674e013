-- A job's hold, settle and refund rows in the ledger cannot repeat: at most one
-- ledger row per (job, kind) for the rows a job writes (issue 12).
CREATE UNIQUE INDEX ledger_job_once ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
