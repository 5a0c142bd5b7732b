//! Several `paywire serve` processes on one PostgreSQL database: a stream
//! of signed events spread over them, one killed (SIGKILL) in the middle.
//! Every acknowledged event runs exactly once, each object's events apply
//! in the order they arrived, no run is left running, and what the APIs of
//! every instance inserted is there; then the same with the killed one
//! started again. The deployment's startup workflow runs once. Their
//! Stripe is one `paywire sandbox` on the same database, as a deployment of
//! several instances without a Stripe account runs (a database has one
//! sandbox, so they cannot each serve their own).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::postgres::Schema;
use crate::common::process::{Paywire, SandboxProcess};
use crate::common::project;
use crate::webhooks::envelope;
use paywire_stripe::signature;

const PROJECT: &str = r#"
tables:
  applied:
    columns:
      id: { type: integer, primary_key: true }
      event_id: { type: text, required: true }
      object_id: { type: text, required: true }
      n: { type: integer, required: true }
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
  hello:
    trigger: startup
    steps:
      - log: "a deployment started"
  apply:
    trigger: { event: stripe.event, types: [invoice.paid] }
    steps:
      # A pause before the effect, so that a kill finds events under way.
      - wait: 15ms
      - action: table.insert
        with:
          table: applied
          values:
            event_id: "{{ context.event.id }}"
            object_id: "{{ context.event.object.id }}"
            n: "{{ context.event.object.metadata.n }}"
"#;

const SECRET: &str = "whsec_cluster_test";
const OBJECTS: usize = 12;

/// An instance whose Stripe is the sandbox at `stripe`.
fn start(dir: &std::path::Path, schema: &Schema, name: &str, stripe: &str) -> Paywire {
    Paywire::start(&[
        ("PAYWIRE_DIR", dir.join("workflows").display().to_string()),
        ("PAYWIRE_DB", schema.url()),
        ("PAYWIRE_INSTANCE", name.to_string()),
        ("STRIPE_SECRET_KEY", "sk_test_cluster".to_string()),
        ("STRIPE_API_BASE", stripe.to_string()),
        ("STRIPE_WEBHOOK_SECRET", SECRET.to_string()),
        ("PAYWIRE_EVENT_RETRY_SECONDS", "0.05".to_string()),
        // A short lease, so that the test does not wait long for the
        // killed instance's events to be taken over.
        ("PAYWIRE_LEASE", "2".to_string()),
        ("PAYWIRE_HEARTBEAT", "0.5".to_string()),
    ])
}

/// The `n`th event (from 0) of invoice `object`, in round `round`.
fn event(round: usize, object: usize, n: usize) -> (String, String) {
    let id = format!("evt_r{round}_o{object:02}_{n:02}");
    let invoice = json!({"id": format!("in_r{round}_{object:02}"), "object": "invoice",
                         "metadata": {"n": n}});
    let payload = envelope(&id, "invoice.paid", invoice);
    (id, payload)
}

struct Stream {
    acknowledged: HashSet<String>,
    orders: HashSet<String>,
}

/// Sends `per_object` events of each of [`OBJECTS`] invoices, object by
/// object in turn, spread over the live `servers`; `kill_at` (a count of
/// acknowledged events) kills `servers[0]`. Each server also gets an order
/// through its API now and then.
async fn stream(
    client: &reqwest::Client,
    servers: &mut [Option<Paywire>],
    round: usize,
    per_object: usize,
    kill_at: Option<usize>,
) -> Stream {
    let mut sent = Stream {
        acknowledged: HashSet::new(),
        orders: HashSet::new(),
    };
    let mut next = 0;
    for n in 0..per_object {
        for object in 0..OBJECTS {
            let (id, payload) = event(round, object, n);
            next += 1;
            let Some(server) = servers[next % servers.len()]
                .as_ref()
                .or_else(|| servers.iter().flatten().next())
            else {
                panic!("no server left");
            };
            let header =
                signature::header(payload.as_bytes(), SECRET, chrono::Utc::now().timestamp());
            let reply = client
                .post(format!("{}/webhooks/stripe", server.base))
                .header("stripe-signature", header)
                .body(payload)
                .send()
                .await;
            if reply.is_ok_and(|r| r.status().is_success()) {
                sent.acknowledged.insert(id);
            }
            if next % 10 == 0 {
                let order = format!("ord_r{round}_{next}");
                let reply = client
                    .post(format!("{}/orders", server.base))
                    .json(&json!({ "id": order }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 201);
                sent.orders.insert(order);
            }
            if kill_at == Some(sent.acknowledged.len())
                && let Some(mut killed) = servers[0].take()
            {
                killed.kill();
            }
        }
    }
    sent
}

/// Waits until every acknowledged event of `round` applied and no run is
/// running, then checks exactly once, the order within each object, and
/// the orders.
async fn check(schema: &Schema, round: usize, sent: &Stream) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let prefix = format!("evt_r{round}_%");
    loop {
        let applied = schema
            .query(&format!(
                "SELECT count(*) FROM applied WHERE event_id LIKE '{prefix}'"
            ))
            .await[0]
            .get::<_, i64>(0);
        let running = schema
            .query("SELECT count(*) FROM _paywire_runs WHERE status = 'running'")
            .await[0]
            .get::<_, i64>(0);
        if applied as usize >= sent.acknowledged.len() && running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: {applied} of {} events applied, {running} runs running",
            sent.acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = schema
        .query(&format!(
            "SELECT event_id, object_id, n FROM applied WHERE event_id LIKE '{prefix}' ORDER BY id"
        ))
        .await;
    let mut times: HashMap<String, usize> = HashMap::new();
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in &rows {
        *times.entry(row.get(0)).or_default() += 1;
        order.entry(row.get(1)).or_default().push(row.get(2));
    }
    let applied: HashSet<String> = times.keys().cloned().collect();
    assert_eq!(
        applied, sent.acknowledged,
        "round {round}: what was acknowledged ran"
    );
    assert!(
        times.values().all(|&t| t == 1),
        "round {round}: events ran more than once: {:?}",
        times.iter().filter(|(_, t)| **t > 1).collect::<Vec<_>>()
    );
    for (object, ns) in &order {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "round {round}: the events of {object} applied out of order: {ns:?}"
        );
    }
    let orders: HashSet<String> = schema
        .query(&format!(
            "SELECT id FROM orders WHERE id LIKE 'ord_r{round}_%'"
        ))
        .await
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        orders, sent.orders,
        "round {round}: every API insert is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_inbox_and_one_killed_loses_nothing() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let dir = project(&[("cluster.yaml", PROJECT)]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sandbox = SandboxProcess::start(0, &[("PAYWIRE_DB", schema.url())]).await;
    let mut servers: Vec<Option<Paywire>> = ["one", "two", "three"]
        .iter()
        .map(|name| Some(start(dir.path(), &schema, name, &sandbox.base)))
        .collect();
    for server in servers.iter().flatten() {
        server.ready(&client).await;
    }

    let startup_runs = || async {
        schema
            .query("SELECT count(*) FROM _paywire_runs WHERE name = 'hello'")
            .await[0]
            .get::<_, i64>(0)
    };

    // Round 0: "one" is killed once a third of the events are acknowledged,
    // and not started again; the others take over what it had claimed.
    let per_object = 8;
    let sent = stream(
        &client,
        &mut servers,
        0,
        per_object,
        Some(OBJECTS * per_object / 3),
    )
    .await;
    assert!(servers[0].is_none(), "the first instance was killed");
    check(&schema, 0, &sent).await;
    assert_eq!(
        startup_runs().await,
        1,
        "the three instances of one deployment run its startup workflow once"
    );
    let interrupted = schema
        .query("SELECT count(*) FROM _paywire_runs WHERE instance = 'one'")
        .await[0]
        .get::<_, i64>(0);
    assert!(interrupted > 0, "the killed instance had run events");
    let taken_over = schema
        .query(
            "SELECT count(*) FROM _paywire_runs WHERE retry_of IS NOT NULL AND instance <> 'one'",
        )
        .await[0]
        .get::<_, i64>(0);
    eprintln!("runs of the killed instance: {interrupted}; resumed elsewhere: {taken_over}");

    // Round 1: "one" is back (a new process, a new lease) and takes its
    // share again.
    servers[0] = Some(start(dir.path(), &schema, "one", &sandbox.base));
    servers[0].as_ref().unwrap().ready(&client).await;
    let sent = stream(&client, &mut servers, 1, 4, None).await;
    check(&schema, 1, &sent).await;
    assert_eq!(
        startup_runs().await,
        1,
        "an instance joining a deployment does not run its startup workflow again"
    );
    let instances: Vec<String> = schema
        .query("SELECT id FROM _paywire_instances ORDER BY id")
        .await
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(instances, ["one", "three", "two"]);
}
