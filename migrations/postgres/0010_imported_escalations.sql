-- Escalations of imported history (`import --history`): the levels a
-- package's clocks passed before they stopped are recorded with the status
-- `imported`, never sent.
ALTER TABLE escalations DROP CONSTRAINT escalations_status_check;
ALTER TABLE escalations ADD CONSTRAINT escalations_status_check
    CHECK (status IN ('notified', 'superseded', 'no_recipients', 'imported'));
