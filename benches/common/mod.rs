//! What the load benches share: knobs from the environment, a free port, and the release
//! `cortex` binary run on a data dir of its own.

#![allow(dead_code)]

use std::process::Command;

/// A numeric knob from the environment.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `cortex` binary on `dir` (SQLite there unless the caller sets `DATABASE_URL`),
/// logging errors only.
///
/// `BENCH_CORTEX` names another build of the binary (say, one with `--features
/// heap-profile`); `BENCH_HUB_LOG` sets its log filter (default `error`).
pub fn cortex(dir: &std::path::Path) -> Command {
    let bin = std::env::var("BENCH_CORTEX").unwrap_or(env!("CARGO_BIN_EXE_cortex").into());
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("CORTEX_DATA_DIR", dir)
        .env(
            "CORTEX_LOG",
            std::env::var("BENCH_HUB_LOG").unwrap_or("error".into()),
        )
        // The swarm joins thousands of neurons from one address: no per-address limit here
        // (benches/flood.rs measures the limit itself).
        .env("CORTEX_REGISTRATIONS_PER_MINUTE", "100000000")
        .env_remove("DATABASE_URL");
    c
}

/// An admin API token, made with `cortex token create` through `command`.
pub fn admin_token(mut command: Command) -> String {
    let out = command
        .args(["token", "create", "--name", "bench", "--role", "admin"])
        .output()
        .expect("cortex token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A lean keep-alive load driver for the benches that share the machine's cores with the hub
/// they drive. Each task holds one HTTP/1.1 connection (hyper's client connection, polled in
/// the same task: no pool, no URL parsing, no task hop per request) and sends requests
/// back to back, as `wrk` does, so the driver takes as little CPU from the hub as it can.
pub mod drive {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::Request;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// What one phase measured.
    pub struct Phase {
        pub name: &'static str,
        pub per_second: f64,
        /// Successful requests.
        pub count: u64,
        pub p50_ms: f64,
        pub p99_ms: f64,
        pub errors: u64,
        /// CPU (user + system) the hub process spent per successful request, in µs.
        pub hub_cpu_us: f64,
        /// CPU the driver (this process) spent per successful request, in µs.
        pub driver_cpu_us: f64,
    }

    /// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (in clock
    /// ticks of 1/100 s, Linux's fixed `USER_HZ`).
    pub fn cpu_seconds(pid: &str) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The command name may hold spaces; the fields after its `)` are fixed.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        (tick(11).unwrap_or(0.0) + tick(12).unwrap_or(0.0)) / 100.0
    }

    /// Sends requests over one connection until `deadline`: latencies of successful
    /// answers, and the count of failures (a failure opens a new connection).
    async fn one_connection<F>(
        addr: SocketAddr,
        deadline: Instant,
        mut n: u64,
        make: Arc<F>,
    ) -> (Vec<Duration>, u64)
    where
        F: Fn(u64) -> Request<Full<Bytes>>,
    {
        let (mut lat, mut errors) = (Vec::with_capacity(1 << 16), 0u64);
        'connect: while Instant::now() < deadline {
            let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let io = hyper_util::rt::TokioIo::new(stream);
            let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(io).await else {
                errors += 1;
                continue;
            };
            let mut conn = std::pin::pin!(conn);
            while Instant::now() < deadline {
                let req = make(n);
                n += 1;
                let t = Instant::now();
                let answered = tokio::select! {
                    r = send.send_request(req) => r.ok(),
                    _ = &mut conn => None,
                };
                let ok = match answered {
                    Some(res) if res.status().is_success() => tokio::select! {
                        b = res.into_body().collect() => b.is_ok(),
                        _ = &mut conn => false,
                    },
                    _ => false,
                };
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                    continue 'connect;
                }
            }
        }
        (lat, errors)
    }

    /// `connections` keep-alive connections to `addr` send `make(n)` back to back for
    /// `secs`, `n` counting per connection from its own million; the hub's process id is
    /// `hub_pid`. Requests per second (successful), latency percentiles, errors and CPU per
    /// request on both sides.
    pub async fn load<F>(
        name: &'static str,
        addr: SocketAddr,
        hub_pid: u32,
        connections: u64,
        secs: u64,
        make: F,
    ) -> Phase
    where
        F: Fn(u64) -> Request<Full<Bytes>> + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let hub_pid = hub_pid.to_string();
        let (hub0, us0) = (cpu_seconds(&hub_pid), cpu_seconds("self"));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..connections)
            .map(|c| tokio::spawn(one_connection(addr, deadline, c * 1_000_000, make.clone())))
            .collect();
        let (mut all, mut errors) = (Vec::new(), 0);
        for t in tasks {
            let (lat, e) = t.await.expect("a driver task");
            all.extend(lat);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let (hub1, us1) = (cpu_seconds(&hub_pid), cpu_seconds("self"));
        all.sort_unstable();
        let at = |q: f64| {
            all.get(((all.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let done = all.len().max(1) as f64;
        Phase {
            name,
            per_second: all.len() as f64 / elapsed,
            count: all.len() as u64,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            errors,
            hub_cpu_us: (hub1 - hub0) * 1e6 / done,
            driver_cpu_us: (us1 - us0) * 1e6 / done,
        }
    }
}
