//! The scenarios of BENCHMARKS.md, each against a fresh `paywire serve` (or
//! the baseline server): how each loads the server and what it measures.
//! `main.rs` runs them in turn and prints the table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use paywire_bench::db::{Backend, wait_for_count};
use paywire_bench::events;
use paywire_bench::load::{self, MakeRequest, Plan};
use paywire_bench::projects;
use paywire_bench::server::{self, Server, WEBHOOK_SECRET};

use crate::cluster::{Cluster, Setup, describe};
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
fn fixed(method: &str, path: &str, body: &str) -> MakeRequest {
    let method = method.to_string();
    let path = path.to_string();
    let body = Bytes::from(body.to_string());
    Arc::new(move |_| server::request(&method, &path, body.clone()))
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
        server::request(
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
        &[server.addr],
        &closed_loop(cx),
        fixed("POST", "/quote", projects::QUOTE_REQUEST),
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
    let mut cluster = Cluster::start(cx, "api", &one_file(projects::API), Setup::SQLITE).await?;
    let addrs = cluster.addrs();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = cluster.first().rss_mb();
    let (status, body) = load::once(
        addrs[0],
        server::request(
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
    let make = fixed("POST", "/quote", projects::QUOTE_REQUEST);
    let cpu_before = cluster.cpu();
    let peak = load::drive(&addrs, &closed_loop(cx), make.clone(), None).await;
    let peak_rss = cluster.peak_rss_mb();
    cluster.check_alive()?;
    // Run records are written after the answer, by the store's writer
    // thread: wait until they are all on disk before the next phase, and
    // report how far behind the answers they were.
    let finished_runs = "SELECT count(*) FROM _paywire_runs WHERE finished_at IS NOT NULL";
    let answered = peak.ok_total + 1;
    let lag = wait_for_count(
        &cluster.db,
        finished_runs,
        answered,
        Duration::from_secs(120),
    )
    .await?;
    // Answering and writing the records, per request.
    let mut figure = Figure::from_outcome(&peak, "req/s", peak_rss);
    cluster.cpu_per_request(&mut figure, cpu_before, peak.ok_total);
    // The latency target is at half the peak rate, on a fixed schedule.
    let half = peak.throughput() / 2.0;
    println!(
        "   peak {:.0} req/s; records on disk {:.1} s after the last answer; now at half the peak, {half:.0} req/s",
        peak.throughput(),
        lag.as_secs_f64()
    );
    let paced = load::drive(
        &addrs,
        &Plan {
            rate: Some(half),
            ..closed_loop(cx)
        },
        make,
        None,
    )
    .await;
    let half_lag = wait_for_count(
        &cluster.db,
        finished_runs,
        answered + paced.ok_total,
        Duration::from_secs(120),
    )
    .await?;
    figure.rss_mb = cluster.peak_rss_mb();
    let half_p99 = paced.percentile_ms(0.99);
    let e = &mut figure.extra;
    e.insert(
        "half_rate_records_lag_s".into(),
        number(half_lag.as_secs_f64()),
    );
    e.insert("idle_rss_mb".into(), number(idle_rss));
    e.insert("peak_phase_rss_mb".into(), number(peak_rss));
    e.insert("records_lag_s".into(), number(lag.as_secs_f64()));
    e.insert("half_rate_rps".into(), number(paced.throughput()));
    e.insert("half_rate_p50_ms".into(), number(paced.percentile_ms(0.5)));
    e.insert("half_rate_p99_ms".into(), number(half_p99));
    e.insert(
        "half_rate_p999_ms".into(),
        number(paced.percentile_ms(0.999)),
    );
    e.insert("half_rate_failed".into(), json!(paced.failed));
    figure.target(
        format!("p99 at half rate < 5 ms (was {half_p99:.2})"),
        half_p99 < 5.0,
    );
    cluster.check_alive()?;
    cluster.stop().await.drop().await?;
    Ok(figure)
}

/// Drives `make` in a closed loop against a fresh cluster of `project`,
/// then checks that `stored` (a count in the database) holds every 2xx:
/// each was answered after its commit. `what` names the answers in a
/// failure; `stored_as` is the count's name in the figure.
#[allow(clippy::too_many_arguments)]
async fn answered_then_stored(
    cx: &Bench,
    name: &str,
    project: &str,
    setup: Setup,
    make: MakeRequest,
    unit: &'static str,
    (stored, stored_as): (&str, &str),
    what: &str,
) -> anyhow::Result<Figure> {
    let mut cluster = Cluster::start(cx, name, &one_file(project), setup).await?;
    let cpu_before = cluster.cpu();
    let outcome = load::drive(&cluster.addrs(), &closed_loop(cx), make, None).await;
    let mut figure = Figure::from_outcome(&outcome, unit, cluster.peak_rss_mb());
    cluster.cpu_per_request(&mut figure, cpu_before, outcome.ok_total);
    describe(&mut figure, setup);
    cluster.check_alive()?;
    let db = cluster.stop().await;
    let count = db.count(stored).await?;
    db.drop().await?;
    figure.extra.insert(stored_as.into(), json!(count));
    if count < outcome.ok_total {
        bail!("{} {what} but only {count} are stored", outcome.ok_total);
    }
    Ok(figure)
}

pub(crate) async fn api_insert_scenario(
    cx: &Bench,
    name: &str,
    setup: Setup,
) -> anyhow::Result<Figure> {
    let make = fixed("POST", "/payments", projects::INSERT_REQUEST);
    let mut figure = answered_then_stored(
        cx,
        name,
        projects::API_INSERT,
        setup,
        make,
        "req/s",
        ("SELECT count(*) FROM payments", "rows"),
        "inserts were answered 201",
    )
    .await?;
    if setup == Setup::SQLITE {
        let t = figure.throughput;
        figure.target("≥ 5,000 req/s", t >= 5_000.0);
    }
    Ok(figure)
}

/// Signed `checkout.session.completed` events, each with its own id.
fn signed_events(tag: String, issued: Arc<AtomicU64>) -> MakeRequest {
    let created = events::unix_now();
    Arc::new(move |n| {
        issued.fetch_add(1, Ordering::Relaxed);
        let payload = events::checkout_completed(&tag, n, created);
        let signature = events::sign_now(payload.as_bytes(), WEBHOOK_SECRET);
        let mut request = server::request("POST", "/webhooks/stripe", Bytes::from(payload));
        request.headers_mut().insert(
            "stripe-signature",
            signature.parse().expect("a header value"),
        );
        request
    })
}

pub(crate) async fn ingest_scenario(
    cx: &Bench,
    name: &str,
    setup: Setup,
) -> anyhow::Result<Figure> {
    let make = signed_events(format!("{}{name}", cx.tag), Arc::default());
    let mut figure = answered_then_stored(
        cx,
        name,
        projects::INGEST,
        setup,
        make,
        "events/s",
        ("SELECT count(*) FROM _paywire_events", "stored"),
        "events were acknowledged",
    )
    .await?;
    if setup == Setup::SQLITE {
        let (t, p99) = (figure.throughput, figure.p99_ms);
        figure.target("≥ 10,000 events/s", t >= 10_000.0);
        figure.target("p99 < 20 ms", p99 < 20.0);
    }
    Ok(figure)
}

pub(crate) async fn end_to_end_scenario(
    cx: &Bench,
    name: &str,
    setup: Setup,
) -> anyhow::Result<Figure> {
    let mut cluster = Cluster::start(cx, name, &one_file(projects::END_TO_END), setup).await?;
    // A task counts the events acknowledged and not yet run, reading the
    // database beside the servers.
    let pending = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cluster.cpu();
    let issued = Arc::new(AtomicU64::new(0));
    let make = signed_events(format!("{}{name}", cx.tag), issued.clone());
    // Senders hold back while `backlog` acknowledged events wait to run, so
    // the figure is what the whole path sustains, and the drain is short.
    let backlog = cx.args.backlog;
    let gate = {
        let pending = pending.clone();
        Arc::new(move || pending.load(Ordering::Relaxed) < backlog)
    };
    let plan = Plan {
        warmup: Duration::ZERO,
        ..closed_loop(cx)
    };
    let addrs = cluster.addrs();
    let (sent, polled) = tokio::join!(
        async {
            let sent = load::drive(&addrs, &plan, make, Some(gate)).await;
            stop.store(true, Ordering::Relaxed);
            sent
        },
        async {
            // Every 100 ms: often enough for the gate (a backlog of 1,000 is
            // a third of a second at 3,000 events/s), seldom enough that the
            // count (a few ms on PostgreSQL, whose index of pending events
            // holds dead entries until vacuumed) costs the database little.
            while !stop.load(Ordering::Relaxed) {
                pending.store(cluster.db.pending_events().await?, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(())
        }
    );
    polled?;
    let acknowledged = sent.ok_total;
    let first_sent = sent
        .first_sent
        .ok_or_else(|| anyhow!("no event was sent"))?;
    // Every acknowledged event is stored, so none pending means every one
    // has run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.db.pending_events().await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_done = Instant::now();
    let rss = cluster.peak_rss_mb();
    let mut figure = Figure {
        unit: "events/s",
        rss_mb: rss,
        ..Figure::default()
    };
    cluster.cpu_per_request(&mut figure, cpu_before, acknowledged);
    describe(&mut figure, setup);
    cluster.check_alive()?;
    let db = cluster.stop().await;

    let by_state = async |state: &str| {
        db.count(&format!(
            "SELECT count(*) FROM _paywire_events WHERE state = '{state}'"
        ))
        .await
    };
    let done = by_state("done").await?;
    let failed = by_state("failed").await?;
    let paid = db
        .count("SELECT count(*) FROM orders WHERE status = 'paid'")
        .await?;
    let runs = db
        .count("SELECT count(*) FROM _paywire_runs WHERE status = 'succeeded' AND trigger_event IS NOT NULL")
        .await?;
    let latencies = db.event_latencies_us().await?;
    db.drop().await?;

    let elapsed = all_done.duration_since(first_sent).as_secs_f64();
    let unrun = acknowledged.saturating_sub(done);
    figure.throughput = done as f64 / elapsed;
    figure.p50_ms = load::percentile_ms(&latencies, 0.5);
    figure.p99_ms = load::percentile_ms(&latencies, 0.99);
    figure.p999_ms = load::percentile_ms(&latencies, 0.999);
    let e = &mut figure.extra;
    e.insert("acknowledged".into(), json!(acknowledged));
    e.insert("done".into(), json!(done));
    e.insert("failed_events".into(), json!(failed));
    e.insert("unrun".into(), json!(unrun));
    e.insert("orders_paid".into(), json!(paid));
    e.insert("runs_succeeded".into(), json!(runs));
    e.insert("elapsed_s".into(), number(elapsed));
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
    match (setup.backend, setup.instances) {
        (Backend::Sqlite, _) => figure.target("≥ 5,000 events/s", t >= 5_000.0),
        (Backend::Postgres, 1) => figure.target("≥ 3,000 events/s", t >= 3_000.0),
        // Two instances are compared with one once both have run (main.rs).
        _ => {}
    }
    figure.target(
        format!("no event left unrun ({unrun} unrun, {failed} failed)"),
        unrun == 0 && failed == 0 && paid == acknowledged,
    );
    Ok(figure)
}

pub(crate) async fn load_scenario(cx: &Bench) -> anyhow::Result<Figure> {
    let files = projects::generated(1_000);
    // `paywire check`: read, parse, decode, compile every expression, check.
    let project = cx.work.path().join("load_1000-check");
    projects::write(&project, &files)?;
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
    let mut cluster = Cluster::start(cx, "load_1000", &files, Setup::SQLITE).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = cluster.first().rss_mb();
    let peak = cluster.peak_rss_mb();
    cluster.check_alive()?;
    cluster.stop().await.drop().await?;
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
