//! The load generator: a fixed number of HTTP/1.1 connections to one server,
//! or spread evenly over several, over loopback, each with one request in flight at a time, a warm-up, then
//! a measured window of fixed length.
//!
//! Two ways to pace it:
//! - closed loop (`rate: None`): each connection sends its next request as
//!   soon as the last one is answered, which finds the peak throughput;
//! - fixed rate (`rate: Some(r)`): requests are due on a schedule of `r` a
//!   second in all, spread over the connections, and a latency counts from
//!   when the request was *due*, not when it went out, so a server that falls
//!   behind is charged for the wait it caused (no coordinated omission).
//!
//! A request counts when its answer arrives inside the measured window; only
//! 2xx answers count as done, anything else is a failure and is reported.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Makes request number `n` (numbers are unique across all connections).
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;
/// Asked before each request: `false` holds the request back (the end-to-end
/// scenario uses it to bound the backlog of events not yet run).
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone, Debug)]
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Requests a second across all connections; `None`: closed loop.
    pub rate: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// 2xx answers that arrived inside the measured window.
    pub ok: u64,
    /// 2xx answers over the whole run, warm-up included.
    pub ok_total: u64,
    /// Other answers and transport errors over the whole run.
    pub failed: u64,
    pub first_failure: Option<String>,
    /// The measured window.
    pub window: Duration,
    /// Latencies (µs) of the requests answered inside the window, sorted.
    pub latencies_us: Vec<u32>,
    /// When the first request went out and the last answer came back.
    pub first_sent: Option<Instant>,
    pub last_answered: Option<Instant>,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile_ms(&self.latencies_us, q)
    }
}

/// The value at quantile `q` of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

struct Shared {
    addrs: Vec<SocketAddr>,
    make: MakeRequest,
    gate: Option<Gate>,
    next: AtomicU64,
    warm_end: Instant,
    end: Instant,
}

#[derive(Default)]
struct ConnStats {
    ok: u64,
    ok_total: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
    first_sent: Option<Instant>,
    last_answered: Option<Instant>,
}

/// Drives `plan` against `addrs` (connection `i` to `addrs[i % len]`) and
/// waits for it to end.
pub async fn drive(
    addrs: &[SocketAddr],
    plan: &Plan,
    make: MakeRequest,
    gate: Option<Gate>,
) -> Outcome {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addrs: addrs.to_vec(),
        make,
        gate,
        next: AtomicU64::new(0),
        warm_end: start + plan.warmup,
        end: start + plan.warmup + plan.duration,
    });
    // Each connection sends every `interval`; connection `i` starts at
    // `i * interval / connections`, so the schedule is even in all.
    let interval = plan
        .rate
        .map(|rate| Duration::from_secs_f64(plan.connections as f64 / rate));
    let mut tasks = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let shared = shared.clone();
        let offset = interval
            .map(|iv| iv.mul_f64(i as f64 / plan.connections as f64))
            .unwrap_or_default();
        tasks.push(tokio::spawn(async move {
            let addr = shared.addrs[i % shared.addrs.len()];
            connection(&shared, addr, start + offset, interval).await
        }));
    }
    let mut outcome = Outcome {
        window: plan.duration,
        ..Outcome::default()
    };
    for task in tasks {
        let stats = match task.await {
            Ok(stats) => stats,
            Err(e) => ConnStats {
                failed: 1,
                first_failure: Some(format!("a client task failed: {e}")),
                ..ConnStats::default()
            },
        };
        outcome.ok += stats.ok;
        outcome.ok_total += stats.ok_total;
        outcome.failed += stats.failed;
        if outcome.first_failure.is_none() {
            outcome.first_failure = stats.first_failure;
        }
        outcome.latencies_us.extend(stats.latencies_us);
        outcome.first_sent = min_opt(outcome.first_sent, stats.first_sent);
        outcome.last_answered = max_opt(outcome.last_answered, stats.last_answered);
    }
    outcome.latencies_us.sort_unstable();
    outcome
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    shared: &Shared,
    addr: SocketAddr,
    first_due: Instant,
    interval: Option<Duration>,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let fail = |stats: &mut ConnStats, why: String| {
        stats.failed += 1;
        if stats.first_failure.is_none() {
            stats.first_failure = Some(why);
        }
    };
    let mut sender: Option<Sender> = None;
    let mut due = first_due;
    'requests: loop {
        // When this request is due: now (closed loop) or on the schedule.
        let scheduled = match interval {
            Some(interval) => {
                if due >= shared.end {
                    break;
                }
                tokio::time::sleep_until(due).await;
                let scheduled = due;
                due += interval;
                scheduled
            }
            None => Instant::now(),
        };
        if scheduled >= shared.end {
            break;
        }
        if let Some(gate) = &shared.gate {
            while !gate() {
                if Instant::now() >= shared.end {
                    break 'requests;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if sender.is_none() {
            match connect(addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    fail(&mut stats, e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        if s.ready().await.is_err() {
            sender = None;
            continue;
        }
        let request = (shared.make)(shared.next.fetch_add(1, Ordering::Relaxed));
        let sent = Instant::now();
        let started = if interval.is_some() { scheduled } else { sent };
        stats.first_sent.get_or_insert(sent);
        let answer = match s.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(body) => Ok((status, body.to_bytes())),
                    Err(e) => Err(format!("reading the body: {e}")),
                }
            }
            Err(e) => Err(format!("request: {e}")),
        };
        let done = Instant::now();
        match answer {
            Ok((status, _)) if status.is_success() => {
                stats.ok_total += 1;
                stats.last_answered = Some(done);
                if done >= shared.warm_end && done < shared.end {
                    stats.ok += 1;
                    let us = done.duration_since(started).as_micros();
                    stats.latencies_us.push(us.min(u32::MAX as u128) as u32);
                }
            }
            Ok((status, body)) => fail(
                &mut stats,
                format!("{status}: {}", String::from_utf8_lossy(&body)),
            ),
            Err(e) => {
                fail(&mut stats, e);
                sender = None;
            }
        }
    }
    stats
}

/// One request on a fresh connection, for set-up and checks: the status and
/// the body.
pub async fn once(addr: SocketAddr, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
    let mut sender = connect(addr).await?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    Ok((status, body))
}
