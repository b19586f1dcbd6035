//! The analytics spool and writer against a real database: every acknowledged batch reaches
//! the database exactly once, even when the hub dies before the writer ran, dies with half a
//! record on disk, or dies between the database commit and the cursor update.

use chrono::Utc;
use cortex_core::analytics::{Event, EventBatch, EventKind};
use cortex_server::analytics::{Analytics, AnalyticsSettings};
use cortex_server::store::{sqlite::SqliteStore, DynStore};
use std::sync::Arc;

fn settings() -> AnalyticsSettings {
    AnalyticsSettings {
        events_per_second: 1_000_000,
        spool_max_bytes: u64::MAX,
    }
}

fn batch(id: usize, events: usize) -> Vec<u8> {
    let mut e = Event::new(EventKind::Exposure, Utc::now());
    e.unit = Some(format!("u{id}"));
    e.mutation_id = Some("m1".into());
    serde_json::to_vec(&EventBatch {
        batch_id: format!("b{id}"),
        events: vec![e; events],
        receipt: None,
    })
    .unwrap()
}

async fn store(dir: &std::path::Path) -> DynStore {
    let url = format!("sqlite://{}", dir.join("t.db").display());
    let store: DynStore = Arc::new(SqliteStore::open_lazy(&url).unwrap());
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn acknowledged_batches_survive_a_crash_before_the_writer_ran() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let db = store(dir.path()).await;

    // 300 batches acknowledged concurrently, then the hub dies: nothing is in the database.
    let analytics = Analytics::open(&spool_dir, settings()).unwrap();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let a = analytics.clone();
            tokio::spawn(async move {
                a.ingest(&format!("n{}", i % 7), &batch(i, 10), Utc::now())
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert!(!t.await.unwrap().unwrap().duplicate);
    }
    drop(analytics);
    assert_eq!(db.count_events().await.unwrap(), 0);
    // The crash also left half a record behind (never acknowledged).
    let seg = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[40, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);

    // Restarted: the writer moves all of it, once.
    let analytics = Analytics::open(&spool_dir, settings()).unwrap();
    assert_eq!(analytics.drain_once(&db).await.unwrap(), 3_000);
    assert_eq!(db.count_events().await.unwrap(), 3_000);
    assert_eq!(analytics.spool().unwrap().backlog(), 0);

    // Resending an acknowledged batch (the neuron never saw the ack) counts it once: this
    // hub restarted, so it does not remember the id, but the database does.
    let ack = analytics
        .ingest("n0", &batch(0, 10), Utc::now())
        .await
        .unwrap();
    assert!(!ack.duplicate);
    assert_eq!(analytics.drain_once(&db).await.unwrap(), 0);
    assert_eq!(db.count_events().await.unwrap(), 3_000);
    let ack = analytics
        .ingest("n0", &batch(0, 10), Utc::now())
        .await
        .unwrap();
    assert!(ack.duplicate, "and now the hub remembers it too");
}

#[tokio::test]
async fn a_crash_between_the_database_commit_and_the_cursor_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let db = store(dir.path()).await;
    let analytics = Analytics::open(&spool_dir, settings()).unwrap();
    for i in 0..50 {
        analytics
            .ingest("n", &batch(i, 4), Utc::now())
            .await
            .unwrap();
    }
    let ack = analytics
        .ingest("n", &batch(7, 4), Utc::now())
        .await
        .unwrap();
    assert!(ack.duplicate, "the hub remembers recent ids");
    // The cursor as it was before the writer ran...
    let before = std::fs::read(spool_dir.join("cursor")).ok();
    assert_eq!(analytics.drain_once(&db).await.unwrap(), 200);
    drop(analytics);
    // ...is what a crash right after the database commit leaves behind.
    match before {
        Some(b) => std::fs::write(spool_dir.join("cursor"), b).unwrap(),
        None => std::fs::remove_file(spool_dir.join("cursor")).unwrap(),
    }
    let analytics = Analytics::open(&spool_dir, settings()).unwrap();
    assert!(
        analytics.spool().unwrap().backlog() > 0,
        "the batches are read again"
    );
    assert_eq!(
        analytics.drain_once(&db).await.unwrap(),
        0,
        "but counted once"
    );
    assert_eq!(db.count_events().await.unwrap(), 200);
}

#[tokio::test]
async fn bad_batches_are_refused_with_the_reason_and_a_noisy_neuron_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let analytics = Analytics::open(
        dir.path(),
        AnalyticsSettings {
            events_per_second: 100,
            spool_max_bytes: u64::MAX,
        },
    )
    .unwrap();
    let err = analytics
        .ingest("n", b"{\"batchId\":", Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
    let err = analytics
        .ingest("n", br#"{"batchId":"b","events":[{"kind":"click","at":"2026-11-29T00:00:00Z","value":1e999}]}"#, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400, "{}", err.message);
    // Dated two days ahead: refused, naming the event.
    let ahead = format!(
        r#"{{"batchId":"b","events":[{{"kind":"click","at":"{}"}}]}}"#,
        (Utc::now() + chrono::Duration::days(2)).to_rfc3339()
    );
    let err = analytics
        .ingest("n", ahead.as_bytes(), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
    assert!(err.message.starts_with("events[0].at"), "{}", err.message);
    let huge = vec![b' '; cortex_core::analytics::MAX_BATCH_BYTES + 1];
    assert_eq!(
        analytics
            .ingest("n", &huge, Utc::now())
            .await
            .unwrap_err()
            .status()
            .as_u16(),
        413
    );
    // The burst allowance is one full batch; then the neuron waits, others do not.
    analytics
        .ingest("n", &batch(1, 5_000), Utc::now())
        .await
        .unwrap();
    let err = analytics
        .ingest("n", &batch(2, 100), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 429);
    assert!(err.retry_after.unwrap() >= 1);
    analytics
        .ingest("m", &batch(3, 100), Utc::now())
        .await
        .unwrap();
}

/// A small filesystem (tmpfs) mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when this process may not mount (not root): said on stderr.
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .status();
        match mounted {
            Ok(s) if s.success() => Some(SmallDisk { dir }),
            other => {
                // On the CI machines (root) this must work.
                let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
                });
                assert!(!root, "root could not mount a tmpfs: {other:?}");
                eprintln!("skipped: mounting a small filesystem needs root");
                None
            }
        }
    }
    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_refuses_without_acknowledging_then_resumes_by_itself() {
    use cortex_server::analytics::spool::{Spool, SpoolError, RECLAIM_BYTES};
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else {
        return;
    };
    // Something else on the disk, freed later.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![7u8; 2 * 1024 * 1024]).unwrap();
    let spool = Spool::open(&disk.path().join("spool"), u64::MAX).unwrap();
    let body = vec![b'x'; 64 * 1024];
    let fill = |spool: Spool, body: Vec<u8>| async move {
        let mut acked = 0u64;
        loop {
            match spool.append("n-1", Utc::now(), &body).await {
                Ok(()) => acked += 1,
                Err(SpoolError::Io(e)) => return (acked, e),
                Err(e) => panic!("{e}"),
            }
        }
    };
    let (acked, error) = fill(spool.clone(), body.clone()).await;
    assert!(
        acked > 0 && acked < 128,
        "{acked} acknowledged before the disk filled"
    );
    assert!(
        error.contains("No space left") || error.contains("os error 28"),
        "{error}"
    );
    assert!(
        spool.refusing().is_some_and(|r| r.contains("disk")),
        "{:?}: {error}",
        spool.refusing()
    );
    // Exactly what was acknowledged is in the spool: nothing refused slipped in.
    let (records, end) = spool.read(usize::MAX).await.unwrap();
    assert_eq!(records.len() as u64, acked);

    // Space freed elsewhere: intake resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    spool
        .append("n-1", Utc::now(), &body)
        .await
        .expect("resumes once there is room");
    assert_eq!(spool.refusing(), None);
    let (more, _) = fill(spool.clone(), body.clone()).await;
    assert!(more > 0);

    // Full again, but everything is drained into the database: the spool gives the
    // drained segment's space back, and intake resumes without anyone freeing anything.
    let (records, end2) = spool.read(usize::MAX).await.unwrap();
    assert_eq!(records.len() as u64, acked + 1 + more);
    assert!(end2 > end && end2.offset >= RECLAIM_BYTES);
    spool.commit(end2).await.expect("commits on a full disk");
    assert_eq!(spool.backlog(), 0);
    spool
        .append("n-1", Utc::now(), &body)
        .await
        .expect("resumes after the drained segment was given back");
    let files: Vec<_> = std::fs::read_dir(disk.path().join("spool"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().starts_with("seg-"))
            .count(),
        1,
        "the drained segment is gone: {files:?}"
    );
}
