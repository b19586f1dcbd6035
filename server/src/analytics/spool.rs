//! The analytics spool: an append-only log of event batches on the hub's disk.
//!
//! A batch is acknowledged only after its record is written and `fdatasync`ed. Appends go
//! through one thread that takes every record waiting, writes them together and syncs once
//! (group commit), so a thousand concurrent batches cost one sync, not a thousand.
//!
//! Records live in numbered segment files (`seg-00000000000000000001.log`, rotated at
//! [`SEGMENT_BYTES`]). Each record is `[u32 length][u32 crc32][payload]`, little-endian; the
//! payload is `[u16 neuron id length][neuron id][i64 received ms][batch JSON]`. A torn tail
//! (the hub died mid-write) fails its length or checksum and is cut off at the next start:
//! it was never acknowledged. The writer keeps its place in `cursor` (written atomically after
//! each database commit) and deletes segments it has passed.

use chrono::{DateTime, TimeZone, Utc};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Once the writer has drained everything, a segment past this size is closed early so its
/// space goes back to the disk (a small data dir must not fill up with what the database
/// already holds).
pub const RECLAIM_BYTES: u64 = 4 * 1024 * 1024;
/// Records one group commit takes at most.
const GROUP_MAX: usize = 4096;
const HEADER: usize = 8;

/// A place in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// One spooled batch as the writer reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub neuron_id: String,
    pub received_at: DateTime<Utc>,
    /// The batch as the neuron sent it (validated before it was spooled).
    pub body: Vec<u8>,
}

impl Record {
    fn encode(neuron_id: &str, received_at: DateTime<Utc>, body: &[u8]) -> Vec<u8> {
        let id = neuron_id.as_bytes();
        let id_len = id.len().min(u16::MAX as usize);
        let payload_len = 2 + id_len + 8 + body.len();
        let mut out = Vec::with_capacity(HEADER + payload_len);
        out.extend_from_slice(&(payload_len as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(id_len as u16).to_le_bytes());
        out.extend_from_slice(&id[..id_len]);
        out.extend_from_slice(&received_at.timestamp_millis().to_le_bytes());
        out.extend_from_slice(body);
        let crc = crc32fast::hash(&out[HEADER..]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(payload: &[u8]) -> Option<Self> {
        let id_len = u16::from_le_bytes(payload.get(0..2)?.try_into().ok()?) as usize;
        let id = payload.get(2..2 + id_len)?;
        let ms = i64::from_le_bytes(payload.get(2 + id_len..10 + id_len)?.try_into().ok()?);
        Some(Self {
            neuron_id: String::from_utf8(id.to_vec()).ok()?,
            received_at: Utc.timestamp_millis_opt(ms).single()?,
            body: payload.get(10 + id_len..)?.to_vec(),
        })
    }
}

/// Splits `buf` into whole, intact records; returns them with the bytes they used. Stops at
/// the first record that is incomplete or fails its checksum.
fn parse_records(buf: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= HEADER {
        let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(buf[at + 4..at + 8].try_into().unwrap_or_default());
        let Some(payload) = buf.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        match Record::decode(payload) {
            Some(r) => out.push(r),
            None => break,
        }
        at += HEADER + len;
    }
    (out, at)
}

/// What the append thread is asked to do.
enum Job {
    /// Write a record; answer once it is on disk.
    Append {
        record: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Start a new segment if nothing was appended since `at` (the writer drained it all);
    /// answer with the new end.
    Rotate {
        at: Position,
        done: oneshot::Sender<Option<Position>>,
    },
}

/// Why a batch could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the analytics spool cannot write to disk: {0}")]
    Io(String),
    #[error("the analytics spool is full ({0} bytes waiting for the database); retry later")]
    Full(u64),
}

/// Handle to the spool. Cheap to clone.
#[derive(Clone)]
pub struct Spool {
    /// Held for the life of the spool: one hub per spool directory.
    _lock: Arc<File>,
    dir: Arc<PathBuf>,
    tx: mpsc::Sender<Job>,
    durable: watch::Receiver<Position>,
    cursor: Arc<watch::Sender<Position>>,
    max_backlog: u64,
    /// Why the last append was refused, until one succeeds (shown on `/readyz`).
    refusing: Arc<std::sync::Mutex<Option<String>>>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("seg-{segment:020}.log"))
}

fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("seg-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_cursor(dir: &Path) -> Position {
    std::fs::read_to_string(dir.join("cursor"))
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u64>().ok());
            Some(Position {
                segment: it.next()??,
                offset: it.next()??,
            })
        })
        .unwrap_or_default()
}

fn write_cursor(dir: &Path, at: Position) -> std::io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{} {}\n", at.segment, at.offset).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("cursor"))?;
    sync_dir(dir)
}

/// Cuts a torn tail off the last segment; returns its intact length.
fn recover(path: &Path) -> std::io::Result<u64> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    let (_, good) = parse_records(&buf);
    if good < buf.len() {
        tracing::warn!(
            segment = %path.display(),
            cut = buf.len() - good,
            "analytics spool: cutting a torn tail (never acknowledged)"
        );
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(good as u64)?;
        f.sync_all()?;
    }
    Ok(good as u64)
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, repairs a torn tail and starts the append
    /// thread. `max_backlog` bounds the bytes waiting for the database.
    pub fn open(dir: &Path, max_backlog: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let lock = File::create(dir.join("lock"))?;
        lock.try_lock().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another Cortex process uses this spool: give each hub its own data dir",
            )
        })?;
        let cursor = read_cursor(dir);
        let existing = segments(dir)?;
        let (segment, offset) = match existing.last() {
            Some(&last) => (last, recover(&segment_path(dir, last))?),
            None => (cursor.segment.max(1), 0),
        };
        let path = segment_path(dir, segment);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(dir)?;
        let start = Position { segment, offset };
        let cursor = if cursor.segment == 0 || cursor > start {
            // No cursor yet (or one from a wiped spool): start at the oldest segment.
            Position {
                segment: existing.first().copied().unwrap_or(segment),
                offset: 0,
            }
        } else {
            cursor
        };
        let (durable_tx, durable) = watch::channel(start);
        let (tx, rx) = mpsc::channel(GROUP_MAX * 4);
        let thread_dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("cortex-spool".into())
            .spawn(move || append_loop(thread_dir, file, start, rx, durable_tx))?;
        Ok(Self {
            _lock: Arc::new(lock),
            dir: Arc::new(dir.to_path_buf()),
            tx,
            durable,
            cursor: Arc::new(watch::channel(cursor).0),
            max_backlog,
            refusing: Arc::default(),
        })
    }

    /// Why appends are refused right now (the disk is full, the backlog is at its limit),
    /// if they are: until the next append succeeds.
    pub fn refusing(&self) -> Option<String> {
        self.refusing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note(&self, outcome: Result<(), &SpoolError>) {
        let mut refusing = self.refusing.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) if refusing.is_some() => {
                tracing::warn!("analytics spool: accepting batches again");
                *refusing = None;
            }
            Ok(()) => {}
            Err(e) => {
                if refusing.is_none() {
                    tracing::error!(error = %e, "analytics spool: refusing batches until there is room");
                }
                *refusing = Some(e.to_string());
            }
        }
    }

    /// Appends a batch and returns once it is on disk.
    pub async fn append(
        &self,
        neuron_id: &str,
        received_at: DateTime<Utc>,
        body: &[u8],
    ) -> Result<(), SpoolError> {
        self.append_within(neuron_id, received_at, body, self.max_backlog)
            .await
    }

    /// The most bytes that may wait for the database.
    pub fn max_backlog(&self) -> u64 {
        self.max_backlog
    }

    /// [`Spool::append`] while at most `room` bytes wait (a part of the spool kept for
    /// some callers: public traffic may use only a share).
    pub async fn append_within(
        &self,
        neuron_id: &str,
        received_at: DateTime<Utc>,
        body: &[u8],
        room: u64,
    ) -> Result<(), SpoolError> {
        let backlog = self.backlog();
        if backlog > room.min(self.max_backlog) {
            let full = SpoolError::Full(backlog);
            if room >= self.max_backlog {
                self.note(Err(&full));
            }
            return Err(full);
        }
        let (done, wait) = oneshot::channel();
        let record = Record::encode(neuron_id, received_at, body);
        self.tx
            .send(Job::Append { record, done })
            .await
            .map_err(|_| SpoolError::Io("the spool thread stopped".into()))?;
        let written = wait
            .await
            .map_err(|_| SpoolError::Io("the spool thread stopped".into()))?
            .map_err(SpoolError::Io);
        self.note(written.as_ref().map(|_| ()));
        written
    }

    /// Where durable data ends.
    pub fn durable(&self) -> Position {
        *self.durable.borrow()
    }

    /// Waits until durable data ends past `at`.
    pub async fn wait_past(&self, at: Position) {
        let mut rx = self.durable.clone();
        let _ = rx.wait_for(|p| *p > at).await;
    }

    /// The writer's place.
    pub fn cursor(&self) -> Position {
        *self.cursor.borrow()
    }

    /// Approximate bytes spooled but not yet in the database.
    pub fn backlog(&self) -> u64 {
        let (d, c) = (self.durable(), self.cursor());
        if d.segment == c.segment {
            d.offset.saturating_sub(c.offset)
        } else {
            (d.segment - c.segment) * SEGMENT_BYTES + d.offset - c.offset.min(SEGMENT_BYTES)
        }
    }

    /// Reads up to about `max_bytes` of records from the cursor on. Returns them and the
    /// position after them (pass it to [`Spool::commit`] once they are in the database).
    pub async fn read(&self, max_bytes: usize) -> std::io::Result<(Vec<Record>, Position)> {
        let dir = self.dir.clone();
        let (from, to) = (self.cursor(), self.durable());
        tokio::task::spawn_blocking(move || read_between(&dir, from, to, max_bytes))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Moves the cursor (atomically, on disk) and deletes segments wholly before it. When
    /// the writer has drained everything and the segment has grown past [`RECLAIM_BYTES`],
    /// a new segment is started and the drained one deleted first: on a full disk, that is
    /// what makes room (even for the cursor file itself).
    pub async fn commit(&self, at: Position) -> std::io::Result<()> {
        let mut at = at;
        if at == self.durable() && at.offset >= RECLAIM_BYTES {
            let (done, rotated) = oneshot::channel();
            if self.tx.send(Job::Rotate { at, done }).await.is_ok() {
                if let Ok(Some(next)) = rotated.await {
                    at = next;
                }
            }
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // Everything before `at` is in the database: deleting it first is safe, and
            // frees the space the cursor file may need.
            for s in segments(&dir)?.into_iter().filter(|s| *s < at.segment) {
                match std::fs::remove_file(segment_path(&dir, s)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            write_cursor(&dir, at)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.cursor.send_replace(at);
        Ok(())
    }
}

fn read_between(
    dir: &Path,
    mut from: Position,
    to: Position,
    max_bytes: usize,
) -> std::io::Result<(Vec<Record>, Position)> {
    let mut out = Vec::new();
    let mut budget = max_bytes;
    while from < to && budget > 0 {
        let end = if from.segment == to.segment {
            to.offset
        } else {
            match std::fs::metadata(segment_path(dir, from.segment)) {
                Ok(m) => m.len(),
                // Deleted once drained (the cursor was not written yet): nothing left in it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            }
        };
        if from.offset >= end {
            // This (closed) segment is done: go on with the next one.
            from = Position {
                segment: from.segment + 1,
                offset: 0,
            };
            continue;
        }
        let want = ((end - from.offset) as usize).min(budget.max(HEADER));
        let mut f = File::open(segment_path(dir, from.segment))?;
        f.seek(SeekFrom::Start(from.offset))?;
        let mut buf = vec![0; want];
        f.read_exact(&mut buf)?;
        let (records, used) = parse_records(&buf);
        if used == 0 {
            if want as u64 == end - from.offset {
                return Err(std::io::Error::other(format!(
                    "analytics spool: unreadable record in segment {} at {}",
                    from.segment, from.offset
                )));
            }
            // One record larger than the budget: read it whole.
            budget = (end - from.offset) as usize;
            continue;
        }
        out.extend(records);
        from.offset += used as u64;
        budget = budget.saturating_sub(used);
    }
    Ok((out, from))
}

fn append_loop(
    dir: PathBuf,
    mut file: File,
    mut at: Position,
    mut rx: mpsc::Receiver<Job>,
    durable: watch::Sender<Position>,
) {
    let mut group: Vec<(Vec<u8>, oneshot::Sender<Result<(), String>>)> =
        Vec::with_capacity(GROUP_MAX);
    let mut buf = Vec::new();
    let mut next = rx.blocking_recv();
    while let Some(job) = next.take() {
        match job {
            Job::Rotate { at: drained, done } => {
                let rotated = drained == at
                    && at.offset > 0
                    && next_segment(&dir, &mut file, &mut at, &durable);
                let _ = done.send(rotated.then_some(at));
                next = rx.blocking_recv();
                continue;
            }
            Job::Append { record, done } => group.push((record, done)),
        }
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(Job::Append { record, done }) => group.push((record, done)),
                Ok(rotate) => {
                    // Handled after this group is written.
                    next = Some(rotate);
                    break;
                }
                Err(_) => break,
            }
        }
        buf.clear();
        for (record, _) in &group {
            buf.extend_from_slice(record);
        }
        let written = file.write_all(&buf).and_then(|()| file.sync_data());
        let result = match written {
            Ok(()) => {
                at.offset += buf.len() as u64;
                durable.send_replace(at);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "analytics spool write failed; batches refused");
                // Drop whatever part of the group reached the file: it was not acknowledged.
                let _ = file.set_len(at.offset);
                Err(e.to_string())
            }
        };
        metrics::counter!("cortex_spool_group_commits_total").increment(1);
        metrics::histogram!("cortex_spool_group_size").record(group.len() as f64);
        for (_, done) in group.drain(..) {
            let _ = done.send(result.clone());
        }
        if at.offset >= SEGMENT_BYTES {
            next_segment(&dir, &mut file, &mut at, &durable);
        }
        if next.is_none() {
            next = rx.blocking_recv();
        }
    }
}

/// Closes the segment being written and starts the next: `file`, `at` and `durable` move
/// to it. `false` (logged) when it cannot be created; writing goes on in the old one.
fn next_segment(
    dir: &Path,
    file: &mut File,
    at: &mut Position,
    durable: &watch::Sender<Position>,
) -> bool {
    let segment = at.segment + 1;
    let opened = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, segment))
        .and_then(|f| sync_dir(dir).map(|()| f));
    match opened {
        Ok(f) => {
            *file = f;
            *at = Position { segment, offset: 0 };
            durable.send_replace(*at);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "analytics spool: cannot start a new segment");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_764_000_000_000).unwrap()
    }

    #[tokio::test]
    async fn records_survive_a_restart_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        for i in 0..10 {
            spool
                .append("n-1", now(), format!("{{\"i\":{i}}}").as_bytes())
                .await
                .unwrap();
        }
        let (records, end) = spool.read(usize::MAX).await.unwrap();
        assert_eq!(records.len(), 10);
        assert_eq!(records[3].neuron_id, "n-1");
        assert_eq!(records[3].received_at, now());
        assert_eq!(records[3].body, b"{\"i\":3}");
        spool
            .commit(Position {
                segment: end.segment,
                offset: records_len(&records[..4]),
            })
            .await
            .unwrap();
        drop(spool);

        // A crash mid-write leaves half a record behind.
        let seg = segment_path(dir.path(), end.segment);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&Record::encode("n-1", now(), b"{\"torn\":true}")[..9])
            .unwrap();
        drop(f);

        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        let (records, _) = spool.read(usize::MAX).await.unwrap();
        assert_eq!(records.len(), 6, "resumes after the committed cursor");
        assert_eq!(records[0].body, b"{\"i\":4}");
        spool.append("n-2", now(), b"{\"after\":1}").await.unwrap();
        let (records, _) = spool.read(usize::MAX).await.unwrap();
        assert_eq!(records.len(), 7);
        assert_eq!(records[6].neuron_id, "n-2");
    }

    fn records_len(rs: &[Record]) -> u64 {
        rs.iter()
            .map(|r| Record::encode(&r.neuron_id, r.received_at, &r.body).len() as u64)
            .sum()
    }

    #[tokio::test]
    async fn concurrent_appends_share_syncs_and_a_full_spool_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let s = spool.clone();
                tokio::spawn(async move { s.append("n", now(), format!("{i}").as_bytes()).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (records, _) = spool.read(usize::MAX).await.unwrap();
        assert_eq!(records.len(), 200);

        let small = Spool::open(&dir.path().join("small"), 10).unwrap();
        small.append("n", now(), &[b'x'; 32]).await.unwrap();
        assert!(matches!(
            small.append("n", now(), b"y").await,
            Err(SpoolError::Full(_))
        ));
    }

    #[tokio::test]
    async fn one_process_per_spool() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spool::open(dir.path(), u64::MAX).unwrap();
        let err = Spool::open(dir.path(), u64::MAX).err().unwrap();
        assert!(err.to_string().contains("another Cortex process"), "{err}");
        drop(first);
        Spool::open(dir.path(), u64::MAX).unwrap();
    }

    #[tokio::test]
    async fn reading_in_small_steps_crosses_segments() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        spool.append("n", now(), b"first").await.unwrap();
        drop(spool);
        // Simulate a rotation: a later segment holds the next record.
        std::fs::File::create(segment_path(dir.path(), 2)).unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        spool.append("n", now(), b"second").await.unwrap();
        let mut bodies = Vec::new();
        loop {
            let (records, at) = spool.read(1).await.unwrap();
            if records.is_empty() {
                break;
            }
            bodies.extend(records.into_iter().map(|r| r.body));
            spool.commit(at).await.unwrap();
        }
        assert_eq!(bodies, vec![b"first".to_vec(), b"second".to_vec()]);
        assert_eq!(segments(dir.path()).unwrap(), vec![2], "segment 1 deleted");
    }
}
