//! `paywire sandbox`, the Stripe sandbox on its own: instances on one
//! PostgreSQL database share it as their Stripe (an object made through one
//! is read through another, its webhook events run a workflow once, a
//! restart keeps its objects), one database has one sandbox (a second
//! `paywire sandbox`, or a second `paywire serve` without a key, is refused
//! with what to do), and the flags it refuses. On SQLite: it answers at
//! its root and under `/_stripe`, never prints its secret, and `serve`
//! reaches it through `STRIPE_API_BASE`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::postgres::Schema;
use crate::common::process::{Paywire, SandboxProcess, free_port, sandbox_command};
use crate::common::project;
use crate::sandbox::receiver;
use paywire_stripe::signature;

const PROJECT: &str = r#"
tables:
  seen:
    columns:
      id: { type: integer, primary_key: true }
      event_id: { type: text, required: true }
      customer: { type: text, required: true }
apis:
  create-customer:
    method: POST
    path: /customers
    params:
      email: { type: string, required: true }
    steps:
      - id: customer
        action: stripe.create_customer
        with: { email: "{{ context.parameters.email }}" }
      - response: { status: 201, body: "{{ steps.customer }}" }
  get-customer:
    method: GET
    path: /customers/:id
    steps:
      - id: customer
        action: stripe.retrieve_customer
        with: { id: "{{ context.request.params.id }}" }
      - response: { body: "{{ steps.customer }}" }
workflows:
  on-customer:
    trigger: { event: stripe.customer, actions: [created] }
    steps:
      - action: table.insert
        with:
          table: seen
          values: { event_id: "{{ context.event.id }}", customer: "{{ context.event.object.id }}" }
"#;

const SECRET: &str = "whsec_shared_sandbox_test";
const KEY: &str = "sk_test_shared_sandbox";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A `paywire serve` of [`PROJECT`] on `db` whose Stripe is the sandbox at
/// `api_base`, reached with a test key.
fn instance(dir: &std::path::Path, db: String, name: &str, api_base: String, port: u16) -> Paywire {
    Paywire::start_on(
        port,
        &[
            ("PAYWIRE_DIR", dir.join("workflows").display().to_string()),
            ("PAYWIRE_DB", db),
            ("PAYWIRE_INSTANCE", name.to_string()),
            ("STRIPE_SECRET_KEY", KEY.to_string()),
            ("STRIPE_API_BASE", api_base),
            ("STRIPE_WEBHOOK_SECRET", SECRET.to_string()),
        ],
    )
}

async fn create_customer(client: &reqwest::Client, server: &Paywire, email: &str) -> String {
    let reply = client
        .post(format!("{}/customers", server.base))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn get_customer(client: &reqwest::Client, server: &Paywire, id: &str) -> Value {
    let reply = client
        .get(format!("{}/customers/{id}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200, "GET /customers/{id}");
    reply.json().await.unwrap()
}

/// A Stripe object read straight from the sandbox, as a Stripe client would.
async fn stripe_get(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the workflow has seen `customers`' creation, then checks
/// that each event ran once.
async fn wait_seen(schema: &Schema, customers: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = schema
            .query(
                "SELECT customer, count(*), count(DISTINCT event_id) FROM seen GROUP BY customer",
            )
            .await;
        let seen: Vec<(String, i64, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        if customers
            .iter()
            .all(|c| seen.iter().any(|(customer, ..)| customer == c))
        {
            for (customer, times, events) in &seen {
                assert_eq!(
                    (*times, *events),
                    (1, 1),
                    "the creation of {customer} ran once"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook workflow saw {seen:?}, not all of {customers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_database_share_one_sandbox_that_keeps_its_objects() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let dir = project(&[("shop.yaml", PROJECT)]);
    let client = client();
    let (port_a, port_b, sandbox_port) = (free_port(), free_port(), free_port());
    // The sandbox delivers to instance A, as it would to a load balancer.
    let sandbox_env = [
        ("PAYWIRE_DB", schema.url()),
        ("STRIPE_WEBHOOK_SECRET", SECRET.to_string()),
        (
            "PAYWIRE_SANDBOX_WEBHOOK_URL",
            format!("http://127.0.0.1:{port_a}/webhooks/stripe"),
        ),
    ];
    let sandbox = SandboxProcess::start(sandbox_port, &sandbox_env).await;
    // A reaches it at its root, B under /_stripe: both are its API's base.
    let a = instance(dir.path(), schema.url(), "a", sandbox.base.clone(), port_a);
    let b = instance(
        dir.path(),
        schema.url(),
        "b",
        format!("{}/_stripe", sandbox.base),
        port_b,
    );
    a.ready(&client).await;
    b.ready(&client).await;

    let ada = create_customer(&client, &a, "ada@example.com").await;
    assert_eq!(
        get_customer(&client, &b, &ada).await["email"],
        "ada@example.com"
    );
    let bob = create_customer(&client, &b, "bob@example.com").await;
    assert_eq!(
        get_customer(&client, &a, &bob).await["email"],
        "bob@example.com"
    );
    wait_seen(&schema, &[&ada, &bob]).await;

    // A restart keeps the sandbox's objects: its state is in the database.
    assert!(sandbox.terminate().await, "the sandbox stopped cleanly");
    let sandbox = SandboxProcess::start(sandbox_port, &sandbox_env).await;
    assert_eq!(
        get_customer(&client, &b, &ada).await["email"],
        "ada@example.com"
    );
    let cy = create_customer(&client, &b, "cy@example.com").await;
    assert_eq!(
        get_customer(&client, &a, &cy).await["email"],
        "cy@example.com"
    );
    wait_seen(&schema, &[&ada, &bob, &cy]).await;
    // Each customer's event arrived once and ended done (its end is written
    // just after the workflow's insert).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<String> = schema
            .query("SELECT state FROM _paywire_events WHERE type = 'customer.created'")
            .await
            .iter()
            .map(|row| row.get(0))
            .collect();
        if states.len() == 3 && states.iter().all(|s| s == "done") {
            break;
        }
        assert!(Instant::now() < deadline, "the events stand as {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(sandbox);
}

/// Runs `paywire` to its end (it must refuse, not serve); what it printed
/// on stderr.
async fn refused(mut command: tokio::process::Command) -> String {
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("it stopped in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started:\n{stderr}");
    stderr
}

/// A keyless `paywire serve` of [`PROJECT`] on `db`, as a command.
fn keyless_serve(dir: &std::path::Path, db: String) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"));
    command
        .arg("serve")
        .env("PAYWIRE_DIR", dir.join("workflows"))
        .env("PAYWIRE_DB", db)
        .env("PAYWIRE_PORT", "0")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("PAYWIRE_ENV")
        .env_remove("PAYWIRE_DATABASE_URL")
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_has_one_sandbox() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let dir = project(&[("shop.yaml", PROJECT)]);
    let first = SandboxProcess::start(0, &[("PAYWIRE_DB", schema.url())]).await;

    // A second `paywire sandbox` on the database is refused, naming the
    // first and saying what to do.
    let said = refused(sandbox_command(
        &["--port", "0"],
        &[("PAYWIRE_DB", schema.url())],
    ))
    .await;
    assert!(
        said.contains(&format!(
            "is held by the sandbox at {} (process",
            first.base
        )),
        "{said}"
    );
    assert!(said.contains("STRIPE_API_BASE="), "{said}");
    // So is a `paywire serve` without a key, whose own sandbox it would be.
    let said = refused(keyless_serve(dir.path(), schema.url())).await;
    assert!(said.contains("paywire will not start"), "{said}");
    assert!(
        said.contains(&format!("held by the sandbox at {} (process", first.base)),
        "{said}"
    );
    assert!(said.contains("run one `paywire sandbox"), "{said}");

    // Once it stops, a keyless `serve` (a developer trying PostgreSQL) has
    // the sandbox, and the next keyless one is refused.
    assert!(first.terminate().await);
    let port = free_port();
    let serve = Paywire::start_on(
        port,
        &[
            (
                "PAYWIRE_DIR",
                dir.path().join("workflows").display().to_string(),
            ),
            ("PAYWIRE_DB", schema.url()),
        ],
    );
    serve.ready(&client()).await;
    let said = refused(keyless_serve(dir.path(), schema.url())).await;
    assert!(
        said.contains(&format!(
            "held by the sandbox at http://127.0.0.1:{port}/_stripe (process"
        )),
        "{said}"
    );
    let said = refused(sandbox_command(
        &["--port", "0"],
        &[("PAYWIRE_DB", schema.url())],
    ))
    .await;
    assert!(said.contains("paywire sandbox will not start"), "{said}");

    // A killed owner frees the state with its process.
    drop(serve);
    let again = SandboxProcess::start(0, &[("PAYWIRE_DB", schema.url())]).await;
    assert!(again.terminate().await);
}

#[tokio::test]
async fn the_sandbox_refuses_bad_flags_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db").display().to_string();
    // The flags, the environment, and what the refusal says.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--webhook-url", "http://127.0.0.1:9/webhooks/stripe"],
            vec![("PAYWIRE_DB", db.clone())],
            "--webhook-url needs STRIPE_WEBHOOK_SECRET",
        ),
        (
            vec!["--webhook-url", "not-a-url"],
            vec![
                ("PAYWIRE_DB", db.clone()),
                ("STRIPE_WEBHOOK_SECRET", "whsec_bad_flags_secret".into()),
            ],
            "--webhook-url `not-a-url` is not an http:// or https:// URL",
        ),
        (
            vec!["--public-url", "ftp://files.example.com"],
            vec![("PAYWIRE_DB", db.clone())],
            "--public-url `ftp://files.example.com` is not an http:// or https:// URL",
        ),
        (
            vec!["--db", "/nonexistent/paywire/s.db"],
            vec![],
            "cannot open /nonexistent/paywire/s.db",
        ),
        (
            vec!["--db", "postgres://paywire:hunter2secret@127.0.0.1:1/none"],
            vec![],
            "cannot open postgres://paywire:***@127.0.0.1:1/none",
        ),
    ];
    for (args, env, expected) in cases {
        let mut full = vec!["--port", "0"];
        full.extend(&args);
        let said = refused(sandbox_command(&full, &env)).await;
        assert!(
            said.contains("paywire sandbox will not start") && said.contains(expected),
            "{args:?}: {said}"
        );
        assert!(
            !said.contains("hunter2secret") && !said.contains("whsec_bad_flags_secret"),
            "{args:?} printed a secret: {said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_sandbox_answers_at_its_root_and_under_stripe() {
    let dir = project(&[("shop.yaml", PROJECT)]);
    let db = dir.path().join("sandbox.db").display().to_string();
    let (hook, received) = receiver().await;
    let secret = "whsec_never_printed_anywhere";
    let sandbox = SandboxProcess::start(
        0,
        &[
            ("PAYWIRE_DB", db.clone()),
            ("STRIPE_WEBHOOK_SECRET", secret.to_string()),
            ("PAYWIRE_SANDBOX_WEBHOOK_URL", hook.clone()),
        ],
    )
    .await;
    let client = client();
    let health = client
        .get(format!("{}/_paywire/health", sandbox.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // Stripe's wire format at the root, read back under /_stripe.
    let created: Value = client
        .post(format!("{}/v1/customers", sandbox.base))
        .bearer_auth(KEY)
        .form(&[("email", "root@example.com")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let read = stripe_get(
        &client,
        &format!("{}/_stripe/v1/customers/{id}", sandbox.base),
    )
    .await;
    assert_eq!(read["email"], "root@example.com");

    // `serve` with a test key reaches it through STRIPE_API_BASE, on a
    // database of its own; a keyless `serve` on the sandbox's file is
    // refused.
    let serve = instance(
        dir.path(),
        dir.path().join("app.db").display().to_string(),
        "app",
        sandbox.base.clone(),
        free_port(),
    );
    serve.ready(&client).await;
    let made = create_customer(&client, &serve, "serve@example.com").await;
    let read = stripe_get(&client, &format!("{}/v1/customers/{made}", sandbox.base)).await;
    assert_eq!(read["email"], "serve@example.com");
    let said = refused(keyless_serve(dir.path(), db)).await;
    assert!(
        said.contains(&format!("held by the sandbox at {} (process", sandbox.base)),
        "{said}"
    );

    // Its events are signed with the secret it was given.
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the events did not arrive");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for (payload, header) in received.lock().unwrap().iter() {
        signature::verify(
            payload.as_bytes(),
            header.as_deref(),
            &[secret],
            300,
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    }
    let printed = sandbox.printed.lock().unwrap().clone();
    assert!(
        printed.contains(&format!("webhook events to {hook}")),
        "{printed}"
    );
    assert!(
        !printed.contains(secret),
        "the secret was printed:\n{printed}"
    );
    assert!(sandbox.terminate().await, "the sandbox stopped cleanly");
}
