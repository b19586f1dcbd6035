//! The report of one experiment over many events, on Postgres, bounded: `BENCH_REPORT_EVENTS`
//! events (default 10,000,000) of one two-arm experiment over 14 days, from
//! `BENCH_REPORT_UNITS` visitors (default 1,000,000), plus a tenth as many of another rule,
//! are loaded straight into the events table (progress is printed per million), and the
//! report rollup is built from them as the migration that added it does.
//!
//! Then, `BENCH_REPORT_RUNS` times each (default 15; medians reported):
//! - the baseline: a plain `COUNT(*)` of the experiment's rows;
//! - the report the hub serves (a range that ends now): the rollup's counts per variant and
//!   day with the variants compared (intervals, p-values, chance to win, SRM);
//! - three times only, the same counts taken from the events themselves (what a report of a
//!   range in the past still does), to check the two agree;
//! - three times only, the visitors' history before the experiment (CUPED), which one rule's
//!   report reads besides the rollup.
//!
//! Run with `cargo bench --bench report` (Postgres at `BENCH_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432`; a scratch database is created and dropped).

use chrono::{DateTime, Utc};
use cortex_core::report::{compare, ImpactRow, ReportQuery};
use cortex_server::store::rollup::HOUR_MS;
use cortex_server::store::{postgres::PgStore, DynStore};
use sqlx::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = std::env::var("BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("cortex_report_bench_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("Postgres for the report bench (BENCH_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("{base}/{name}");
        let store: DynStore = Arc::new(PgStore::open_lazy(&url).unwrap());
        store.migrate().await.unwrap();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();

        let total = env_num("BENCH_REPORT_EVENTS", 10_000_000).max(1000) as i64;
        let units = env_num("BENCH_REPORT_UNITS", 1_000_000).max(10) as i64;
        let runs = env_num("BENCH_REPORT_RUNS", 15).clamp(1, 1000) as usize;
        let now = Utc::now();
        let start_hour = now.timestamp_millis() / HOUR_MS - 14 * 24;
        let span_ms = 14 * 24 * HOUR_MS;
        // Event i: visitor i % units, the arm by a hash of the visitor, the kind by i (in every
        // 40: 27 exposures, 8 dwell, 4 clicks, 1 conversion), spread over 14 days.
        let load = |rule: &'static str, from: i64, to: i64| {
            format!(
                "INSERT INTO events (neuron_id, batch_id, kind, at, received_at, unit, page_slug,
                                     mutation_id, variant, value)
                 SELECT 'bench', 'b' || (i / 1000), k.kind,
                        {start} + (i * 7919) % {span_ms}, {start} + (i * 7919) % {span_ms},
                        'visitor-' || (i % {units}), 'home', '{rule}',
                        CASE WHEN ((i % {units}) * 2654435761) % 1000 < 500 THEN 'a' ELSE 'b' END,
                        CASE WHEN k.kind = 'dwell' THEN 500 + (i % 9000) END
                   FROM generate_series({from}::bigint, {to}::bigint - 1) AS i
                   CROSS JOIN LATERAL (SELECT CASE i % 10
                        WHEN 6 THEN 'dwell' WHEN 7 THEN 'dwell' WHEN 8 THEN 'click'
                        WHEN 9 THEN CASE WHEN (i / 10) % 4 = 0 THEN 'conversion' ELSE 'exposure' END
                        ELSE 'exposure' END AS kind) AS k",
                start = start_hour * HOUR_MS,
            )
        };
        let started = Instant::now();
        let step = 1_000_000;
        let mut loaded = 0;
        while loaded < total {
            let to = (loaded + step).min(total);
            sqlx::query(&load("checkout-test", loaded, to))
                .execute(&mut conn)
                .await
                .unwrap();
            loaded = to;
            eprintln!(
                "… loaded {loaded} of {total} experiment events ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
        sqlx::query(&load("other-rule", total, total + total / 10))
            .execute(&mut conn)
            .await
            .unwrap();
        // Visitors' history: a hundredth as many conversions on no rule in the 14 days before
        // the experiment, from every seventh visitor or so (CUPED reads them).
        sqlx::query(&format!(
            "INSERT INTO events (neuron_id, batch_id, kind, at, received_at, unit, page_slug)
             SELECT 'bench', 'h' || (i / 1000), 'conversion', {start} - 1 - (i * 7919) % {span_ms},
                    {start}, 'visitor-' || ((i * 7) % {units}), 'checkout'
               FROM generate_series(0::bigint, {history}::bigint - 1) AS i",
            start = start_hour * HOUR_MS,
            history = total / 100,
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        eprintln!("… building the report rollup from {} events", total + total / 10);
        let built = Instant::now();
        let rows = store.rebuild_rollup().await.unwrap();
        let build = built.elapsed();
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await.unwrap();
        eprintln!(
            "… rollup: {rows} rows in {:.1} s; loading took {:.0} s",
            build.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );

        let rule = "checkout-test";
        let from = DateTime::from_timestamp_millis(start_hour * HOUR_MS).unwrap();
        let to = now + chrono::Duration::hours(1);
        let mut count_times = Vec::new();
        let mut rollup_times = Vec::new();
        let mut rows_counted = 0i64;
        let mut rolled = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            rows_counted = sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE mutation_id = $1 AND at >= $2 AND at < $3",
            )
            .bind(rule)
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis())
            .fetch_one(&mut conn)
            .await
            .unwrap();
            count_times.push(t.elapsed());

            let t = Instant::now();
            let (tallies, days) = store
                .rollup_tallies(Some(rule), None, start_hour)
                .await
                .unwrap();
            let impact: Vec<ImpactRow> = tallies.iter().cloned().map(ImpactRow::from_tally).collect();
            let (comparisons, srm) =
                compare(&impact, |_| vec![("a".into(), 0.5), ("b".into(), 0.5)]);
            rollup_times.push(t.elapsed());
            assert!(!comparisons.is_empty(), "b compared with a");
            assert!(srm.is_empty() || srm.len() == 1);
            assert!(days.len() >= 28, "two arms over 14 days");
            rolled = tallies;
        }
        let mut raw_times = Vec::new();
        let mut counted = Vec::new();
        let query = ReportQuery {
            rule: Some(rule.into()),
            ..ReportQuery::default()
        };
        for _ in 0..3 {
            let t = Instant::now();
            counted = store.layout_tallies(&query, from, to).await.unwrap().0;
            raw_times.push(t.elapsed());
        }
        // The visitors' history for CUPED: one pass over the experiment's visitors.
        let mut history_times = Vec::new();
        let mut history = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            history.clear();
            for variant in ["a", "b"] {
                let p = store.pre_exposure(rule, variant, start_hour).await.unwrap();
                history.push((variant, p));
            }
            history_times.push(t.elapsed());
        }
        let round = |mut t: Vec<cortex_core::report::Tally>| {
            for t in &mut t {
                t.dwell_sum = t.dwell_sum.round();
                t.dwell_sum_sq = (t.dwell_sum_sq / 1e6).round();
            }
            t
        };
        let agree = round(rolled.clone()) == round(counted.clone());
        drop(conn);
        drop(store);
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await;

        let (count, report, raw) = (median(count_times), median(rollup_times), median(raw_times));
        println!(
            "events: {} of the experiment ({rows_counted} counted), {} of another rule; {units} visitors",
            total,
            total / 10
        );
        for t in &rolled {
            println!(
                "  arm {}: {} exposures, {} visitors, {} converted",
                t.variant, t.exposures, t.exposed_units, t.converted_units
            );
        }
        println!("baseline COUNT(*) of the experiment's rows: {:.1} ms (median of {runs})", ms(count));
        println!("report from the rollup (counts, days, comparison): {:.2} ms (median of {runs})", ms(report));
        println!("report counted from the events: {:.0} ms (median of 3)", ms(raw));
        for (variant, p) in &history {
            println!(
                "  arm {variant}: {} visitors with conversions in the 14 days before their first exposure",
                p.with_history
            );
        }
        let cuped = median(history_times);
        println!(
            "visitors' history for CUPED: {:.0} ms (median of 3), {:.2} x the plain count",
            ms(cuped),
            ms(cuped) / ms(count)
        );
        println!(
            "ratio: the report takes {:.3} x the plain count; counting the events takes {:.1} x",
            ms(report) / ms(count),
            ms(raw) / ms(count)
        );
        println!("rollup and events agree: {agree}");
        assert!(agree, "rollup {rolled:?}\nevents {counted:?}");
    });
}
