//! Analytics intake into Postgres, bounded: `BENCH_EVENTS` events (default 1,000,000) in
//! batches of `BENCH_BATCH` (1000) are ingested by 32 concurrent senders (parse, check,
//! append to the spool, fsync by group commit, acknowledge) while the writer drains the spool
//! into Postgres. Reported: acknowledged events per second, events per second all the way
//! into Postgres, and, as the baseline in the same run, a raw `COPY` of the same rows into a
//! table of the same shape. Then it checks that every acknowledged event is in the database.
//!
//! Run with `cargo bench --bench analytics` (Postgres at `BENCH_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432`; a scratch database is created and dropped).

use chrono::Utc;
use cortex_core::analytics::{Event, EventBatch, EventKind};
use cortex_server::analytics::{Analytics, AnalyticsSettings};
use cortex_server::store::events::{pg_copy_text, SpooledBatch, EVENT_INSERT_COLS};
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

fn batch(i: usize, size: usize) -> EventBatch {
    let now = Utc::now();
    EventBatch {
        batch_id: format!("b{i}"),
        events: (0..size)
            .map(|k| {
                let mut e = Event::new(
                    if k % 10 == 0 {
                        EventKind::Click
                    } else {
                        EventKind::Exposure
                    },
                    now,
                );
                e.unit = Some(format!("visitor-{}", (i * 31 + k) % 100_000));
                e.page_slug = Some("home".into());
                e.mutation_id = Some(format!("m{}", k % 50));
                e.variant = Some(["a", "b"][k % 2].into());
                e
            })
            .collect(),
        receipt: None,
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = std::env::var("BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("cortex_bench_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("Postgres for the analytics bench (BENCH_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let store: DynStore = Arc::new(PgStore::open_lazy(&format!("{base}/{name}")).unwrap());
        store.migrate().await.unwrap();

        let total = env_num("BENCH_EVENTS", 1_000_000) as usize;
        let size = env_num("BENCH_BATCH", 1000).clamp(1, 5000) as usize;
        let count = total.div_ceil(size);
        eprintln!("… building {count} batches of {size} events");
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
            (0..count)
                .map(|i| serde_json::to_vec(&batch(i, size)).unwrap())
                .collect(),
        );
        let bytes: usize = bodies.iter().map(Vec::len).sum();

        let spool = tempfile::tempdir().unwrap();
        let analytics = Analytics::open(
            spool.path(),
            AnalyticsSettings {
                events_per_second: u32::MAX,
                spool_max_bytes: u64::MAX,
            },
        )
        .unwrap();
        let health = cortex_server::db_health::DbHealth::default();
        health.mark_ready();
        let writer = tokio::spawn(analytics.clone().run_writer(store.clone(), health));

        eprintln!(
            "… ingesting {} events ({} MiB of JSON) with 32 senders",
            count * size,
            bytes >> 20
        );
        let started = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let senders: Vec<_> = (0..32)
            .map(|w| {
                let (a, bodies, next) = (analytics.clone(), bodies.clone(), next.clone());
                tokio::spawn(async move {
                    let mut acked = 0u64;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else {
                            break acked;
                        };
                        let ack = a.ingest(&format!("n{w}"), body, Utc::now()).await.unwrap();
                        acked += u64::from(ack.events);
                    }
                })
            })
            .collect();
        let mut acked = 0;
        for s in senders {
            acked += s.await.unwrap();
        }
        let ingest = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(600);
        while store.count_events().await.unwrap() < acked {
            assert!(Instant::now() < deadline, "the writer did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = started.elapsed();
        writer.abort();
        let stored = store.count_events().await.unwrap();

        // Baseline: the same rows, COPYed raw in chunks of the writer's size.
        eprintln!("… baseline: raw COPY of the same rows");
        let batches: Vec<SpooledBatch> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| SpooledBatch {
                neuron_id: format!("n{}", i % 32),
                received_at: Utc::now(),
                batch: serde_json::from_slice(b).unwrap(),
            })
            .collect();
        let mut conn = sqlx::PgConnection::connect(&format!("{base}/{name}"))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE events_baseline (LIKE events INCLUDING ALL)")
            .execute(&mut conn)
            .await
            .unwrap();
        let refs: Vec<&SpooledBatch> = batches.iter().collect();
        let chunks: Vec<Vec<u8>> = refs
            .chunks((16 * 1024 * 1024 / (bytes / count).max(1)).max(1))
            .map(pg_copy_text)
            .collect();
        let started = Instant::now();
        let mut copied = 0;
        for chunk in chunks {
            let mut copy = conn
                .copy_in_raw(&format!(
                    "COPY events_baseline ({EVENT_INSERT_COLS}) FROM STDIN"
                ))
                .await
                .unwrap();
            copy.send(chunk).await.unwrap();
            copied += copy.finish().await.unwrap();
        }
        let copy = started.elapsed();
        drop(conn);
        drop(store);

        let per_s = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "acknowledged (durable in the spool): {acked} events in {:.2} s = {:.0} events/s",
            ingest.as_secs_f64(),
            per_s(acked, ingest)
        );
        println!(
            "into Postgres (spool → writer → COPY): {stored} events in {:.2} s = {:.0} events/s",
            all.as_secs_f64(),
            per_s(stored, all)
        );
        println!(
            "baseline raw COPY of the same rows: {copied} rows in {:.2} s = {:.0} rows/s",
            copy.as_secs_f64(),
            per_s(copied, copy)
        );
        println!(
            "ratio: the intake runs at {:.2} x a raw COPY; acknowledged events lost: {}",
            per_s(stored, all) / per_s(copied, copy),
            acked.saturating_sub(stored)
        );
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        assert_eq!(stored, acked, "every acknowledged event is in Postgres");
    });
}
