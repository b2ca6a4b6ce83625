-- Bulk export rendered by PostgreSQL (src/tickets/actions/export.ts): one CSV cell of text,
-- byte for byte what src/exports/csv.ts (npm csv-stringify 6.9.0 with its options) writes for
-- a string, so the chunk's part is one string_agg of the chunk's rows instead of rows read
-- into JavaScript and rendered there (docs/performance.md, "Bulk export").
--   NULL -> empty. Formula injection: a value starting with = + - @ tab or CR gets a leading
--   single quote (OWASP "CSV Injection"). RFC 4180: a value holding a double quote, a comma,
--   CR or LF is quoted, its double quotes doubled; anything else is written as is.
-- IMMUTABLE, PARALLEL SAFE and a single expression, so the planner inlines it into the query.
CREATE FUNCTION csv_cell(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
  WHEN value IS NULL THEN ''
  WHEN value ~ '[",\r\n]' THEN
    '"' || CASE WHEN value ~ '^[=+@\t\r-]' THEN '''' ELSE '' END || replace(value, '"', '""') || '"'
  WHEN value ~ '^[=+@\t\r-]' THEN '''' || value
  ELSE value
END;
