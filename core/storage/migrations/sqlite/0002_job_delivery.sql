-- Where a job's result was delivered (PRODUCT.md §4: channel and message ids), so
-- /history can link to results across restarts.
ALTER TABLE jobs ADD COLUMN result_channel_id TEXT;
ALTER TABLE jobs ADD COLUMN result_message_id TEXT;
ALTER TABLE jobs ADD COLUMN result_url TEXT;
