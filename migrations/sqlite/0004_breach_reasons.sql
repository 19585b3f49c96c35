-- Why a deadline was missed: the reason (a code from the force's
-- `[[breach_reasons]]` list) given with an acknowledgement. Additive:
-- acknowledgements recorded before this migration have none ("no reason
-- recorded"). A reason belongs to an acknowledgement, so it is only present
-- with one: the acknowledgement stays whole or absent, its reason optional.
ALTER TABLE packages ADD COLUMN acknowledgement_reason TEXT
    CHECK (acknowledgement_reason IS NULL
           OR (acknowledged_at IS NOT NULL
               AND length(acknowledgement_reason) BETWEEN 1 AND 40
               AND acknowledgement_reason NOT GLOB '*[^a-z0-9_]*'
               AND acknowledgement_reason GLOB '[a-z]*'));
