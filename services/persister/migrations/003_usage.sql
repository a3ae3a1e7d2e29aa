-- 003_usage.sql - what each call cost in tokens (CallRecord.usage): the
-- Realtime model's usage summed over its responses and the reasoner's
-- (consultations and the summary).  NULL: not reported.  Re-runnable.

ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_input_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_output_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_input_audio_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_output_audio_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_cached_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS model_responses integer;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS reasoner_input_tokens bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS reasoner_output_tokens bigint;
