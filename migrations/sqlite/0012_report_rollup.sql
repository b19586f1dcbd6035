-- The report rollup: what the rule reports count, kept per rule, variant and hour as events
-- are written, so a report reads a few rows per hour instead of every event (see
-- `server/src/store/rollup.rs`). `hour` is milliseconds since the epoch / 3,600,000.

-- The latest hour each visitor (unit) saw each rule's variant, and the latest hour they
-- converted on it, and the first. `units` below counts visitors in the hour of their latest
-- exposure, so the visitors seen since an hour are the sum of `units` from that hour on;
-- `new_units` counts them in the hour of their first.
CREATE TABLE rule_units (
    mutation_id    TEXT NOT NULL,
    variant        TEXT NOT NULL,
    unit           TEXT NOT NULL,
    exposed_hour   BIGINT,
    converted_hour BIGINT,
    first_exposed_hour   BIGINT,
    first_converted_hour BIGINT,
    PRIMARY KEY (mutation_id, variant, unit)
);

CREATE TABLE rule_hours (
    mutation_id     TEXT NOT NULL,
    variant         TEXT NOT NULL,
    hour            BIGINT NOT NULL,
    events          BIGINT NOT NULL DEFAULT 0,
    exposures       BIGINT NOT NULL DEFAULT 0,
    clicks          BIGINT NOT NULL DEFAULT 0,
    conversions     BIGINT NOT NULL DEFAULT 0,
    dwell_count     BIGINT NOT NULL DEFAULT 0,
    dwell_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    dwell_sum_sq    DOUBLE PRECISION NOT NULL DEFAULT 0,
    units           BIGINT NOT NULL DEFAULT 0,
    converted_units BIGINT NOT NULL DEFAULT 0,
    new_units       BIGINT NOT NULL DEFAULT 0,
    new_converted_units BIGINT NOT NULL DEFAULT 0,
    revenue_sum     DOUBLE PRECISION NOT NULL DEFAULT 0,
    revenue_sum_sq  DOUBLE PRECISION NOT NULL DEFAULT 0,
    errors          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (mutation_id, variant, hour)
);
CREATE INDEX rule_hours_by_hour ON rule_hours (hour);

-- Built once from the events already stored.
INSERT INTO rule_units (mutation_id, variant, unit, exposed_hour, converted_hour,
                        first_exposed_hour, first_converted_hour)
SELECT mutation_id, COALESCE(variant, ''), unit,
       MAX(CASE WHEN kind = 'exposure' THEN at / 3600000 END),
       MAX(CASE WHEN kind = 'conversion' THEN at / 3600000 END),
       MIN(CASE WHEN kind = 'exposure' THEN at / 3600000 END),
       MIN(CASE WHEN kind = 'conversion' THEN at / 3600000 END)
  FROM events
 WHERE mutation_id IS NOT NULL AND unit IS NOT NULL AND kind IN ('exposure', 'conversion')
 GROUP BY mutation_id, COALESCE(variant, ''), unit;

INSERT INTO rule_hours (mutation_id, variant, hour, events, exposures, clicks, conversions,
                        dwell_count, dwell_sum, dwell_sum_sq, units, converted_units,
                        new_units, new_converted_units, revenue_sum, revenue_sum_sq, errors)
SELECT mutation_id, variant, hour, SUM(events), SUM(exposures), SUM(clicks), SUM(conversions),
       SUM(dwell_count), SUM(dwell_sum), SUM(dwell_sum_sq), SUM(units), SUM(converted_units),
       SUM(new_units), SUM(new_converted_units), SUM(revenue_sum), SUM(revenue_sum_sq),
       SUM(errors)
  FROM (SELECT mutation_id, COALESCE(variant, '') AS variant, at / 3600000 AS hour, 1 AS events,
               CASE WHEN kind = 'exposure' THEN 1 ELSE 0 END AS exposures,
               CASE WHEN kind = 'click' THEN 1 ELSE 0 END AS clicks,
               CASE WHEN kind = 'conversion' THEN 1 ELSE 0 END AS conversions,
               CASE WHEN kind = 'dwell' AND value IS NOT NULL THEN 1 ELSE 0 END AS dwell_count,
               CASE WHEN kind = 'dwell' AND value IS NOT NULL THEN value ELSE 0.0 END AS dwell_sum,
               CASE WHEN kind = 'dwell' AND value IS NOT NULL THEN value * value ELSE 0.0 END AS dwell_sum_sq,
               0 AS units, 0 AS converted_units, 0 AS new_units, 0 AS new_converted_units,
               CASE WHEN kind = 'conversion' AND value IS NOT NULL THEN value ELSE 0.0 END AS revenue_sum,
               CASE WHEN kind = 'conversion' AND value IS NOT NULL THEN value * value ELSE 0.0 END AS revenue_sum_sq,
               CASE WHEN kind = 'error' THEN 1 ELSE 0 END AS errors
          FROM events
         WHERE mutation_id IS NOT NULL
           AND kind IN ('exposure', 'click', 'conversion', 'dwell', 'error')
        UNION ALL
        SELECT mutation_id, variant, exposed_hour, 0, 0, 0, 0, 0, 0.0, 0.0, 1, 0, 0, 0, 0.0, 0.0, 0
          FROM rule_units WHERE exposed_hour IS NOT NULL
        UNION ALL
        SELECT mutation_id, variant, converted_hour, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 1, 0, 0, 0.0, 0.0, 0
          FROM rule_units WHERE converted_hour IS NOT NULL
        UNION ALL
        SELECT mutation_id, variant, first_exposed_hour, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0, 1, 0, 0.0, 0.0, 0
          FROM rule_units WHERE first_exposed_hour IS NOT NULL
        UNION ALL
        SELECT mutation_id, variant, first_converted_hour, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0, 0, 1, 0.0, 0.0, 0
          FROM rule_units WHERE first_converted_hour IS NOT NULL) AS counted
 GROUP BY mutation_id, variant, hour;
