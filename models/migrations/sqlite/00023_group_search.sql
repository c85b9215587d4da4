-- +goose Up
-- The console's group pickers search groups by a case-insensitive prefix
-- of the name (issue 18: no form lists every group). The range
-- lower(name) >= p AND lower(name) < p' reads this index in order; it
-- carries the name, so a page of suggestions never reads the table.
CREATE INDEX groups_name_lower ON groups (lower(name), name);

-- +goose Down
DROP INDEX groups_name_lower;
