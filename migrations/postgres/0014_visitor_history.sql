-- Each visitor's history before an experiment: the hours in which they converted (on any
-- rule or none), so an experiment's report can adjust each visitor's conversion by what
-- they did in the weeks before their first exposure (CUPED; see
-- `server/src/store/rollup.rs`). One row per visitor and hour, written with the events;
-- read by hour (the weeks before a report's start on), each visitor's rule row looked up.
CREATE TABLE unit_conversions (
    hour BIGINT NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (hour, unit)
);

-- Built once from the events already stored.
INSERT INTO unit_conversions (hour, unit)
SELECT DISTINCT at / 3600000, unit
  FROM events
 WHERE kind = 'conversion' AND unit IS NOT NULL;
