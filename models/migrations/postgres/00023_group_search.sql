-- +goose Up
-- +goose StatementBegin
-- The console's group pickers search groups by a case-insensitive prefix
-- of the name (issue 18: no form lists every group), asked as a byte-wise
-- range on this "C" expression (see 00011 for why "C").
CREATE INDEX groups_name_lower ON groups ((lower(name) COLLATE "C"), name);
-- +goose StatementEnd

-- +goose Down
DROP INDEX groups_name_lower;
