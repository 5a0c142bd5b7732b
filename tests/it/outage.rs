//! PostgreSQL going away for a few seconds and coming back: nothing that
//! was acknowledged is lost, nothing is acknowledged that was not
//! committed, callers are told to come back (503), and paywire reconnects
//! by itself.
//!
//! The database goes away behind a proxy rather than by stopping the
//! server, which other tests share at the same time. From paywire's side
//! a restart is exactly this: its connections drop, and new ones are
//! refused until the server is back.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::postgres::Schema;
use crate::common::{SANDBOX_WEBHOOK_SECRET, TestServer, project};
use crate::webhooks::{deliver, envelope, signed};
use paywire::app::Settings;
use paywire::config::Secret;
use paywire_store::Database;

const PROJECT: &str = r#"
tables:
  applied:
    columns:
      event_id: { type: text, primary_key: true }
  orders:
    columns:
      id: { type: text, primary_key: true }
apis:
  add-order:
    method: POST
    path: /orders
    params:
      id: { type: string, required: true }
    steps:
      - action: table.insert
        with: { table: orders, values: { id: "{{ context.parameters.id }}" } }
      - response: { status: 201, body: ok }
workflows:
  apply:
    trigger: { event: stripe.event, types: [invoice.paid] }
    steps:
      - action: table.insert
        with: { table: applied, values: { event_id: "{{ context.event.id }}" } }
"#;

/// A TCP proxy to the database that can cut every connection and refuse
/// new ones, and then let them through again.
struct Proxy {
    address: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped at every cut: connections opened before it close.
    cuts: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (accepting, watching) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut = watching.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { address, up, cuts }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `address`.
fn through(url: &str, address: std::net::SocketAddr) -> String {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    let options = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    format!("postgres://{user}{password}@{address}/{database}?{options}")
}

fn target(url: &str) -> String {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

async fn send_event(server: &TestServer, id: &str) -> u16 {
    let invoice = json!({"id": format!("in_{id}"), "object": "invoice"});
    let payload = envelope(id, "invoice.paid", invoice);
    deliver(server, &payload, signed(&payload)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_going_away_loses_nothing_acknowledged() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let proxy = Proxy::start(target(&schema.url())).await;
    let dir = project(&[("outage.yaml", PROJECT)]);
    let mut settings = Settings::new(
        dir.path().join("workflows"),
        Database::Postgres(through(&schema.url(), proxy.address)),
    );
    settings.webhook.secrets = vec![Secret::new(SANDBOX_WEBHOOK_SECRET.to_string())];
    let server = TestServer::start_with(dir, settings).await;

    let mut acknowledged = HashSet::new();
    let mut statuses: HashMap<&str, Vec<u16>> = HashMap::new();
    for n in 0..15 {
        let id = format!("evt_before_{n:02}");
        let status = send_event(&server, &id).await;
        if status == 200 {
            acknowledged.insert(id);
        }
        statuses.entry("before").or_default().push(status);
    }

    proxy.down();
    for n in 0..10 {
        let id = format!("evt_during_{n:02}");
        let status = send_event(&server, &id).await;
        assert_ne!(
            status, 200,
            "{id} was acknowledged while the database was away"
        );
        statuses.entry("during").or_default().push(status);
    }
    let order = server.post("/orders", json!({"id": "ord_during"})).await;
    assert_eq!(order.status, 503, "{:?}", order.body);
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.up();

    // paywire reconnects by itself: deliveries are taken again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while acknowledged.len() < 30 {
        let id = format!("evt_after_{n:02}");
        n += 1;
        if send_event(&server, &id).await == 200 {
            acknowledged.insert(id);
        } else {
            assert!(Instant::now() < deadline, "paywire did not reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        server
            .post("/orders", json!({"id": "ord_after"}))
            .await
            .status,
        201
    );
    assert!(
        statuses["during"].iter().all(|&s| s == 503),
        "while the database was away, Stripe was told to come back: {statuses:?}"
    );

    // Every acknowledged event runs, once, and nothing else.
    let deadline = Instant::now() + Duration::from_secs(30);
    let applied: HashSet<String> = loop {
        let applied: HashSet<String> = schema
            .query("SELECT event_id FROM applied")
            .await
            .iter()
            .map(|row| row.get(0))
            .collect();
        let running = schema
            .query("SELECT count(*) FROM _paywire_runs WHERE status = 'running'")
            .await[0]
            .get::<_, i64>(0);
        if applied.len() >= acknowledged.len() && running == 0 {
            break applied;
        }
        if Instant::now() >= deadline {
            let stuck: Vec<String> = schema
                .query(
                    "SELECT id || ' ' || state || ' attempts=' || attempts || ' claimed_by=' || coalesce(claimed_by, '-')
                         || ' error=' || coalesce(last_error, '-') FROM _paywire_events
                     WHERE id NOT IN (SELECT event_id FROM applied)",
                )
                .await
                .iter()
                .map(|row| row.get(0))
                .collect();
            let runs: Vec<String> = schema
                .query("SELECT id || ' ' || name || ' ' || status || ' ' || coalesce(trigger_event, '-') || ' ' || coalesce(error::text, '-') || ' steps=' || coalesce(steps::text, '-') FROM _paywire_runs WHERE status <> 'succeeded'")
                .await
                .iter()
                .map(|row| row.get(0))
                .collect();
            panic!(
                "{} of {} events applied, {running} runs running; not applied: {stuck:#?}; runs: {runs:#?}",
                applied.len(),
                acknowledged.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(applied, acknowledged);
    let stored = schema
        .query("SELECT count(*) FROM _paywire_events WHERE id LIKE 'evt_during_%'")
        .await[0]
        .get::<_, i64>(0);
    assert_eq!(stored, 0, "an event refused with 503 was not half stored");
    server.stop().await;
}
