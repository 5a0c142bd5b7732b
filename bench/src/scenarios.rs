//! The scenarios of BENCHMARKS.md, each against a fresh `paywire serve` (or
//! the baseline server): how each loads the server and what it measures.
//! `main.rs` runs them in turn and prints the table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use paywire_bench::events;
use paywire_bench::load::{self, MakeRequest, Plan};
use paywire_bench::projects;
use paywire_bench::server::{self, Server, WEBHOOK_SECRET};

use crate::{Bench, Figure, number};

fn closed_loop(cx: &Bench) -> Plan {
    Plan {
        connections: cx.args.connections,
        warmup: cx.args.warmup,
        duration: cx.args.duration,
        rate: None,
    }
}

/// A fixed request: the same method, path and body every time.
fn fixed(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> MakeRequest {
    let method = method.to_string();
    let path = path.to_string();
    let body = Bytes::from(body.to_string());
    Arc::new(move |_| server::request(addr, &method, &path, body.clone()))
}

/// A paywire server of the project `yaml` with a fresh database.
async fn start_paywire(
    cx: &Bench,
    name: &str,
    files: &[(String, String)],
) -> anyhow::Result<(Server, PathBuf)> {
    let dir = cx.work.path().join(name);
    let project = dir.join("workflows");
    projects::write(&project, files)?;
    let db = dir.join("paywire.db");
    let server = Server::paywire(&cx.paywire, &project, &db, &cx.log(name)).await?;
    Ok((server, db))
}

fn one_file(yaml: &str) -> Vec<(String, String)> {
    vec![("project.yaml".to_string(), yaml.to_string())]
}

pub(crate) async fn baseline_scenario(
    cx: &Bench,
    answer: &mut Option<Value>,
) -> anyhow::Result<Figure> {
    let mut server = Server::baseline(&cx.baseline, &cx.log("baseline")).await?;
    let (status, body) = load::once(
        server.addr,
        server.request(
            "POST",
            "/quote",
            Bytes::from_static(projects::QUOTE_REQUEST.as_bytes()),
        ),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    if status != 200 {
        bail!("the baseline answered {status}");
    }
    *answer = Some(serde_json::from_slice(&body)?);
    let cpu_before = server.cpu_seconds();
    let outcome = load::drive(
        server.addr,
        &closed_loop(cx),
        fixed(server.addr, "POST", "/quote", projects::QUOTE_REQUEST),
        None,
    )
    .await;
    let mut figure = Figure::from_outcome(&outcome, "req/s", server.peak_rss_mb());
    figure.cpu_per_request(&server, cpu_before, outcome.ok_total);
    server.check_alive(&cx.log("baseline"))?;
    server.stop().await;
    Ok(figure)
}

pub(crate) async fn api_scenario(cx: &Bench, baseline: Option<&Value>) -> anyhow::Result<Figure> {
    let (mut server, db) = start_paywire(cx, "api", &one_file(projects::API)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = server.rss_mb();
    let (status, body) = load::once(
        server.addr,
        server.request(
            "POST",
            "/quote",
            Bytes::from_static(projects::QUOTE_REQUEST.as_bytes()),
        ),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let answer: Value = serde_json::from_slice(&body)?;
    if status != 200 {
        bail!("POST /quote answered {status}: {answer}");
    }
    if let Some(baseline) = baseline
        && baseline != &answer
    {
        bail!("paywire answered {answer}, the baseline {baseline}: they must answer the same");
    }
    let make = fixed(server.addr, "POST", "/quote", projects::QUOTE_REQUEST);
    let cpu_before = server.cpu_seconds();
    let peak = load::drive(server.addr, &closed_loop(cx), make.clone(), None).await;
    let peak_rss = server.peak_rss_mb();
    server.check_alive(&cx.log("api"))?;
    // Run records are written after the answer, by the store's writer
    // thread: wait until they are all on disk before the next phase, and
    // report how far behind the answers they were.
    let answered = peak.ok_total + 1;
    let lag = wait_for_count(
        &db,
        "SELECT count(*) FROM _paywire_runs WHERE finished_at IS NOT NULL",
        answered,
        Duration::from_secs(120),
    )
    .await?;
    // Answering and writing the records, per request.
    let peak_cpu_us = server.cpu_us_per_request(cpu_before, peak.ok_total);
    // The latency target is at half the peak rate, on a fixed schedule.
    let half = peak.throughput() / 2.0;
    println!(
        "   peak {:.0} req/s; records on disk {:.1} s after the last answer; now at half the peak, {half:.0} req/s",
        peak.throughput(),
        lag.as_secs_f64()
    );
    let paced = load::drive(
        server.addr,
        &Plan {
            rate: Some(half),
            ..closed_loop(cx)
        },
        make,
        None,
    )
    .await;
    let half_lag = wait_for_count(
        &db,
        "SELECT count(*) FROM _paywire_runs WHERE finished_at IS NOT NULL",
        answered + paced.ok_total,
        Duration::from_secs(120),
    )
    .await?;
    let mut figure = Figure::from_outcome(&peak, "req/s", server.peak_rss_mb());
    figure
        .extra
        .insert("server_cpu_us".into(), number(peak_cpu_us));
    let half_p99 = paced.percentile_ms(0.99);
    figure.extra.insert(
        "half_rate_records_lag_s".into(),
        number(half_lag.as_secs_f64()),
    );
    figure.extra.insert("idle_rss_mb".into(), number(idle_rss));
    figure
        .extra
        .insert("peak_phase_rss_mb".into(), number(peak_rss));
    figure
        .extra
        .insert("records_lag_s".into(), number(lag.as_secs_f64()));
    figure
        .extra
        .insert("half_rate_rps".into(), number(paced.throughput()));
    figure
        .extra
        .insert("half_rate_p50_ms".into(), number(paced.percentile_ms(0.5)));
    figure
        .extra
        .insert("half_rate_p99_ms".into(), number(half_p99));
    figure.extra.insert(
        "half_rate_p999_ms".into(),
        number(paced.percentile_ms(0.999)),
    );
    figure
        .extra
        .insert("half_rate_failed".into(), json!(paced.failed));
    figure.target(
        format!("p99 at half rate < 5 ms (was {half_p99:.2})"),
        half_p99 < 5.0,
    );
    server.check_alive(&cx.log("api"))?;
    server.stop().await;
    Ok(figure)
}

pub(crate) async fn api_insert_scenario(cx: &Bench) -> anyhow::Result<Figure> {
    let (mut server, db) = start_paywire(cx, "api_insert", &one_file(projects::API_INSERT)).await?;
    let make = fixed(server.addr, "POST", "/payments", projects::INSERT_REQUEST);
    let cpu_before = server.cpu_seconds();
    let outcome = load::drive(server.addr, &closed_loop(cx), make, None).await;
    let mut figure = Figure::from_outcome(&outcome, "req/s", server.peak_rss_mb());
    figure.cpu_per_request(&server, cpu_before, outcome.ok_total);
    server.check_alive(&cx.log("api_insert"))?;
    server.stop().await;
    // Every 201 was answered after its row's commit.
    let rows = count(&db, "SELECT count(*) FROM payments")?;
    figure.extra.insert("rows".into(), json!(rows));
    if rows < outcome.ok_total {
        bail!(
            "{} inserts were answered 201 but only {rows} rows are stored",
            outcome.ok_total
        );
    }
    let t = figure.throughput;
    figure.target("≥ 5,000 req/s", t >= 5_000.0);
    Ok(figure)
}

/// Signed `checkout.session.completed` events, each with its own id.
fn signed_events(addr: std::net::SocketAddr, tag: String, issued: Arc<AtomicU64>) -> MakeRequest {
    let created = events::unix_now();
    Arc::new(move |n| {
        issued.fetch_add(1, Ordering::Relaxed);
        let payload = events::checkout_completed(&tag, n, created);
        let signature = events::sign_now(payload.as_bytes(), WEBHOOK_SECRET);
        let mut request = server::request(addr, "POST", "/webhooks/stripe", Bytes::from(payload));
        request.headers_mut().insert(
            "stripe-signature",
            signature.parse().expect("a header value"),
        );
        request
    })
}

pub(crate) async fn ingest_scenario(cx: &Bench) -> anyhow::Result<Figure> {
    let (mut server, db) = start_paywire(cx, "webhook_ingest", &one_file(projects::INGEST)).await?;
    let make = signed_events(server.addr, format!("{}i", cx.tag), Arc::default());
    let cpu_before = server.cpu_seconds();
    let outcome = load::drive(server.addr, &closed_loop(cx), make, None).await;
    let mut figure = Figure::from_outcome(&outcome, "events/s", server.peak_rss_mb());
    figure.cpu_per_request(&server, cpu_before, outcome.ok_total);
    server.check_alive(&cx.log("webhook_ingest"))?;
    server.stop().await;
    let stored = count(&db, "SELECT count(*) FROM _paywire_events")?;
    figure.extra.insert("stored".into(), json!(stored));
    if stored < outcome.ok_total {
        bail!(
            "{} events were acknowledged but only {stored} are stored",
            outcome.ok_total
        );
    }
    let (t, p99) = (figure.throughput, figure.p99_ms);
    figure.target("≥ 10,000 events/s", t >= 10_000.0);
    figure.target("p99 < 20 ms", p99 < 20.0);
    Ok(figure)
}

pub(crate) async fn end_to_end_scenario(cx: &Bench) -> anyhow::Result<Figure> {
    let (mut server, db) = start_paywire(cx, "end_to_end", &one_file(projects::END_TO_END)).await?;
    // A thread counts the events whose runs are over, reading the database
    // beside the server.
    let finished = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (finished, stop, db) = (finished.clone(), stop.clone(), db.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            let conn = rusqlite::Connection::open(&db)?;
            conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
            let mut query = conn.prepare(
                "SELECT count(*) FROM _paywire_events WHERE state IN ('done', 'failed', 'ignored')",
            )?;
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = query.query_row([], |r| r.get(0))?;
                finished.store(n as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };
    let issued = Arc::new(AtomicU64::new(0));
    let make = signed_events(server.addr, format!("{}e", cx.tag), issued.clone());
    // Senders hold back while `backlog` acknowledged events wait to run, so
    // the figure is what the whole path sustains, and the drain is short.
    let backlog = cx.args.backlog;
    let gate = {
        let (issued, finished) = (issued.clone(), finished.clone());
        Arc::new(move || {
            issued.load(Ordering::Relaxed) < finished.load(Ordering::Relaxed) + backlog
        })
    };
    let plan = Plan {
        warmup: Duration::ZERO,
        ..closed_loop(cx)
    };
    let cpu_before = server.cpu_seconds();
    let sent = load::drive(server.addr, &plan, make, Some(gate)).await;
    let acknowledged = sent.ok_total;
    let first_sent = sent
        .first_sent
        .ok_or_else(|| anyhow!("no event was sent"))?;
    // Wait for every acknowledged event's run to finish.
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished.load(Ordering::Relaxed) < acknowledged && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let all_done = Instant::now();
    let cpu_us = server.cpu_us_per_request(cpu_before, acknowledged);
    stop.store(true, Ordering::Relaxed);
    poller
        .join()
        .map_err(|_| anyhow!("the poller panicked"))??;
    let rss = server.peak_rss_mb();
    server.check_alive(&cx.log("end_to_end"))?;
    server.stop().await;

    let conn = rusqlite::Connection::open(&db)?;
    let by_state = |state: &str| -> anyhow::Result<u64> {
        Ok(conn.query_row(
            "SELECT count(*) FROM _paywire_events WHERE state = ?1",
            [state],
            |r| r.get::<_, i64>(0),
        )? as u64)
    };
    let done = by_state("done")?;
    let failed = by_state("failed")?;
    let paid = count(&db, "SELECT count(*) FROM orders WHERE status = 'paid'")?;
    let runs = count(
        &db,
        "SELECT count(*) FROM _paywire_runs WHERE status = 'succeeded' AND trigger_event IS NOT NULL",
    )?;
    // From acknowledgement to the run's end, by the server's own clock.
    let mut latencies: Vec<u32> = conn
        .prepare(
            "SELECT (julianday(finished_at) - julianday(received_at)) * 86400000000.0
             FROM _paywire_events WHERE state = 'done'",
        )?
        .query_map([], |r| r.get::<_, f64>(0))?
        .map(|r| r.map(|us| us.max(0.0) as u32))
        .collect::<Result<_, _>>()?;
    latencies.sort_unstable();

    let elapsed = all_done.duration_since(first_sent).as_secs_f64();
    let unrun = acknowledged.saturating_sub(done);
    let mut figure = Figure {
        throughput: done as f64 / elapsed,
        unit: "events/s",
        p50_ms: load::percentile_ms(&latencies, 0.5),
        p99_ms: load::percentile_ms(&latencies, 0.99),
        p999_ms: load::percentile_ms(&latencies, 0.999),
        rss_mb: rss,
        ..Figure::default()
    };
    let e = &mut figure.extra;
    e.insert("acknowledged".into(), json!(acknowledged));
    e.insert("done".into(), json!(done));
    e.insert("failed_events".into(), json!(failed));
    e.insert("unrun".into(), json!(unrun));
    e.insert("orders_paid".into(), json!(paid));
    e.insert("runs_succeeded".into(), json!(runs));
    e.insert("elapsed_s".into(), number(elapsed));
    e.insert("server_cpu_us".into(), number(cpu_us));
    e.insert("send_failures".into(), json!(sent.failed));
    e.insert(
        "ack_rate".into(),
        number(acknowledged as f64 / cx.args.duration.as_secs_f64()),
    );
    e.insert("ack_p99_ms".into(), number(sent.percentile_ms(0.99)));
    e.insert(
        "latency".into(),
        json!("p50/p99/p99.9 are from acknowledgement to the end of the event's run"),
    );
    if let Some(why) = &sent.first_failure {
        e.insert("first_failure".into(), json!(why));
    }
    let t = figure.throughput;
    figure.target("≥ 5,000 events/s", t >= 5_000.0);
    figure.target(
        format!("no event left unrun ({unrun} unrun, {failed} failed)"),
        unrun == 0 && failed == 0 && paid == acknowledged,
    );
    Ok(figure)
}

pub(crate) async fn load_scenario(cx: &Bench) -> anyhow::Result<Figure> {
    let files = projects::generated(1_000);
    let dir = cx.work.path().join("load_1000");
    let project = dir.join("workflows");
    projects::write(&project, &files)?;
    // `paywire check`: read, parse, decode, compile every expression, check.
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let output = tokio::process::Command::new(&cx.paywire)
            .arg("check")
            .arg(&project)
            .output()
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if !output.status.success() {
            bail!(
                "the generated project does not check:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if times.len() == 1 {
            print!("   {}", String::from_utf8_lossy(&output.stdout));
        }
    }
    times.sort_by(f64::total_cmp);
    // Memory: `paywire serve` of the same project, once it is up and idle.
    let db = dir.join("paywire.db");
    let mut server = Server::paywire(&cx.paywire, &project, &db, &cx.log("load_1000")).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = server.rss_mb();
    let peak = server.peak_rss_mb();
    server.check_alive(&cx.log("load_1000"))?;
    server.stop().await;
    let median = times[times.len() / 2];
    let mut figure = Figure {
        throughput: 1_000.0 / (median / 1000.0),
        unit: "workflows/s",
        p50_ms: median,
        p99_ms: times[times.len() - 1],
        p999_ms: times[times.len() - 1],
        rss_mb: peak,
        ..Figure::default()
    };
    figure.extra.insert("idle_rss_mb".into(), number(idle));
    figure.extra.insert(
        "check_runs_ms".into(),
        json!(times.iter().map(|t| number(*t)).collect::<Vec<_>>()),
    );
    figure.extra.insert("files".into(), json!(files.len()));
    figure.target(format!("load < 1 s ({median:.0} ms)"), median < 1_000.0);
    figure.target(format!("idle RSS < 50 MB ({idle:.1} MB)"), idle < 50.0);
    Ok(figure)
}

/// Waits until `sql` counts at least `target`; returns how long that took.
async fn wait_for_count(
    db: &Path,
    sql: &str,
    target: u64,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let n = count(db, sql)?;
        if n >= target {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("`{sql}` reached only {n} of {target} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn count(db: &Path, sql: &str) -> anyhow::Result<u64> {
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
}
