//! The sandbox cases of the suite: what the Stripe sandbox commits loads
//! back after a restart, and one owner of a database's sandbox state at a
//! time.

use std::time::Duration;

use serde_json::json;

use paywire_store::{
    SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot, Store,
    StoreError,
};

use crate::common::TestStore;

fn object(id: &str, object: &str, seq: i64, amount: i64) -> SandboxObject {
    SandboxObject {
        id: id.into(),
        object: object.into(),
        seq,
        data: json!({
            "id": id,
            "object": object,
            "amount": amount,
            "metadata": {"order": "ord_1", "note": "ünïcode ✓"},
            "lines": [{"price": 12.5}, null, true]
        }),
    }
}

fn idempotency(key: &str, status: u16, body: &str) -> SandboxIdempotency {
    SandboxIdempotency {
        key: key.into(),
        fingerprint: format!("POST /v1/customers {key}"),
        status,
        body: body.into(),
    }
}

fn delivery(event_id: &str, attempts: u32, delivered: bool) -> SandboxDelivery {
    SandboxDelivery {
        event_id: event_id.into(),
        endpoint: String::new(),
        attempts,
        delivered,
        last_error: (!delivered && attempts > 0).then(|| "connection refused".into()),
    }
}

/// The sandbox's state, with records that have no order of their own
/// sorted by key (objects keep their order of creation).
async fn load(store: &TestStore) -> SandboxSnapshot {
    let mut snapshot = store.sandbox_load().await.expect("the sandbox loads");
    snapshot.idempotency.sort_by(|a, b| a.key.cmp(&b.key));
    snapshot
        .deliveries
        .sort_by(|a, b| (&a.event_id, &a.endpoint).cmp(&(&b.event_id, &b.endpoint)));
    snapshot
}

async fn an_empty_sandbox_loads_nothing(store: TestStore) {
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    assert_eq!(
        load(&store).await,
        SandboxSnapshot::default(),
        "{}",
        store.backend
    );
    // Committing nothing is no error.
    store
        .sandbox_commit(SandboxChanges::default())
        .await
        .unwrap();
    assert_eq!(load(&store).await, SandboxSnapshot::default());
}

async fn the_sandbox_loads_what_was_committed(store: TestStore) {
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    // A body replayed byte for byte: spacing and key order kept.
    let body = r#"{"id": "cus_1",  "object":"customer"}"#;
    store
        .sandbox_commit(SandboxChanges {
            objects: vec![
                object("cus_1", "customer", 1, 0),
                object("evt_1", "event", 2, 0),
            ],
            idempotency: Some(idempotency("key_b", 200, body)),
            deliveries: vec![delivery("evt_1", 0, false)],
        })
        .await
        .unwrap();
    store
        .sandbox_commit(SandboxChanges {
            objects: vec![object("pi_1", "payment_intent", 3, 500)],
            idempotency: Some(idempotency("key_a", 402, "{}")),
            deliveries: vec![delivery("evt_0", 3, false)],
        })
        .await
        .unwrap();
    assert_eq!(
        load(&store).await,
        SandboxSnapshot {
            objects: vec![
                object("cus_1", "customer", 1, 0),
                object("evt_1", "event", 2, 0),
                object("pi_1", "payment_intent", 3, 500),
            ],
            idempotency: vec![
                idempotency("key_a", 402, "{}"),
                idempotency("key_b", 200, body)
            ],
            deliveries: vec![delivery("evt_0", 3, false), delivery("evt_1", 0, false)],
        },
        "{}",
        store.backend
    );
}

async fn a_commit_replaces_objects_records_and_deliveries_by_id(store: TestStore) {
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    store
        .sandbox_commit(SandboxChanges {
            objects: vec![
                object("cus_1", "customer", 1, 0),
                object("pi_1", "payment_intent", 2, 500),
            ],
            idempotency: Some(idempotency("key_a", 200, "first")),
            deliveries: vec![delivery("evt_1", 0, false)],
        })
        .await
        .unwrap();
    // An object written again takes the new data and keeps its kind and its
    // place in the order; one changed twice in a request ends as the last
    // change left it.
    let mut changed = object("pi_1", "other", 9, 700);
    changed.data["status"] = json!("succeeded");
    store
        .sandbox_commit(SandboxChanges {
            objects: vec![object("pi_1", "payment_intent", 2, 600), changed.clone()],
            idempotency: Some(idempotency("key_a", 409, "second")),
            deliveries: vec![delivery("evt_1", 2, false), delivery("evt_1", 3, true)],
        })
        .await
        .unwrap();
    let snapshot = load(&store).await;
    assert_eq!(
        snapshot.objects,
        vec![
            object("cus_1", "customer", 1, 0),
            SandboxObject {
                object: "payment_intent".into(),
                seq: 2,
                ..changed
            },
        ],
        "{}",
        store.backend
    );
    assert_eq!(
        snapshot.idempotency,
        vec![idempotency("key_a", 409, "second")]
    );
    assert_eq!(snapshot.deliveries, vec![delivery("evt_1", 3, true)]);
}

/// A change of one customer, `cus_{n}`.
fn customer(n: i64) -> SandboxChanges {
    SandboxChanges {
        objects: vec![object(&format!("cus_{n}"), "customer", n, n)],
        ..SandboxChanges::default()
    }
}

fn held_by(refused: Result<impl std::fmt::Debug, StoreError>) -> String {
    match refused {
        Err(StoreError::SandboxHeld(owner)) => owner,
        other => panic!("expected the sandbox's state to be held, got {other:?}"),
    }
}

async fn one_sandbox_owns_the_state_at_a_time(store: TestStore) {
    // Without a claim, nothing is committed.
    let refused = store.sandbox_commit(customer(1)).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{}: {refused:?}",
        store.backend
    );
    let first = store
        .sandbox_claim("the sandbox at http://a:1 (process 1 on a)".into())
        .await
        .unwrap();
    store.sandbox_commit(customer(2)).await.unwrap();
    // A second claim is refused, from this process or another, and named
    // by the owner's own words.
    let other: std::sync::Arc<dyn Store> = store.open_again().await;
    for refused in [
        store.sandbox_claim("a second".into()).await,
        other.sandbox_claim("a third".into()).await,
    ] {
        let owner = held_by(refused);
        assert!(
            owner.starts_with("the sandbox at http://a:1 (process 1 on a), since "),
            "{}: {owner}",
            store.backend
        );
    }
    assert!(matches!(
        other.sandbox_commit(customer(3)).await,
        Err(StoreError::Invalid(_))
    ));
    // Once the owner lets go, another takes the state over, and the first
    // store commits nothing more.
    drop(first);
    let second = other.sandbox_claim("a fourth".into()).await.unwrap();
    other.sandbox_commit(customer(4)).await.unwrap();
    assert!(matches!(
        store.sandbox_commit(customer(5)).await,
        Err(StoreError::Invalid(_))
    ));
    let ids: Vec<String> = load(&store)
        .await
        .objects
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, ["cus_2", "cus_4"], "{}", store.backend);
    drop(second);
}

async fn commits_are_written_in_the_order_of_the_calls(store: TestStore) {
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    // Many changes of one object, made one after another and awaited
    // together: the last call's data is what stays.
    let commits: Vec<_> = (0..200)
        .map(|n| {
            store.sandbox_commit(SandboxChanges {
                objects: vec![object("cus_1", "customer", 1, n)],
                ..SandboxChanges::default()
            })
        })
        .collect();
    for commit in commits {
        commit.await.unwrap();
    }
    let snapshot = load(&store).await;
    assert_eq!(
        snapshot.objects,
        vec![object("cus_1", "customer", 1, 199)],
        "{}",
        store.backend
    );
}

on_both_backends!(
    one_sandbox_owns_the_state_at_a_time,
    commits_are_written_in_the_order_of_the_calls,
    an_empty_sandbox_loads_nothing,
    the_sandbox_loads_what_was_committed,
    a_commit_replaces_objects_records_and_deliveries_by_id,
    deliveries_of_one_event_to_two_endpoints_are_kept_apart,
);

async fn deliveries_of_one_event_to_two_endpoints_are_kept_apart(store: TestStore) {
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    let to = |endpoint: &str, attempts: u32, delivered: bool| SandboxDelivery {
        endpoint: endpoint.into(),
        ..delivery("evt_1", attempts, delivered)
    };
    let commit = |deliveries: Vec<SandboxDelivery>| SandboxChanges {
        deliveries,
        ..SandboxChanges::default()
    };
    store
        .sandbox_commit(commit(vec![to("we_a", 0, false), to("we_b", 0, false)]))
        .await
        .unwrap();
    store
        .sandbox_commit(commit(vec![to("we_b", 1, true)]))
        .await
        .unwrap();
    assert_eq!(
        load(&store).await.deliveries,
        vec![to("we_a", 0, false), to("we_b", 1, true)]
    );
}

/// PostgreSQL only: a database whose deliveries were kept one per event
/// (schema 1) gains their endpoint, the configured one, at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deliveries_of_schema_1_become_the_configured_endpoints() {
    use paywire_store::postgres::PostgresStore;

    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = format!("paywire_test_{}_deliveries", std::process::id());
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is reachable");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}._stripe_deliveries (
                event_id TEXT COLLATE \"C\" PRIMARY KEY,
                attempts INTEGER NOT NULL,
                delivered BOOLEAN NOT NULL,
                last_error TEXT);
             INSERT INTO {schema}._stripe_deliveries VALUES ('evt_old', 3, false, 'refused');"
        ))
        .await
        .unwrap();
    let store = PostgresStore::open(&crate::common::with_schema(&url, &schema))
        .await
        .expect("the store opens and migrates");
    let _claim = store.sandbox_claim("the test".into()).await.unwrap();
    let old = SandboxDelivery {
        last_error: Some("refused".into()),
        ..delivery("evt_old", 3, false)
    };
    assert_eq!(store.sandbox_load().await.unwrap().deliveries, vec![old]);
    // The old event now goes to an endpoint as well: a second row.
    store
        .sandbox_commit(SandboxChanges {
            deliveries: vec![SandboxDelivery {
                endpoint: "we_new".into(),
                ..delivery("evt_old", 0, false)
            }],
            ..SandboxChanges::default()
        })
        .await
        .unwrap();
    assert_eq!(store.sandbox_load().await.unwrap().deliveries.len(), 2);
    drop(_claim);
    drop(store);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// PostgreSQL only: the owner's connection is its own, and may break.
mod postgres_connection {
    use super::*;

    /// Ends the owner's session in the database, as a restart of the server
    /// or a network cut does.
    async fn cut_off(store: &TestStore) {
        let admin = store.postgres().await.unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM _stripe_owner WHERE id = 1",
                &[],
            )
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_owner_cut_off_takes_its_state_back_unless_another_took_it() {
        let Some(store) = crate::common::postgres().await else {
            return;
        };
        let _first = store.sandbox_claim("the first".into()).await.unwrap();
        store.sandbox_commit(customer(1)).await.unwrap();
        // Cut off with nobody else around: the next commit connects again
        // and goes through.
        cut_off(&store).await;
        store.sandbox_commit(customer(2)).await.unwrap();

        // Cut off while another sandbox starts: the other takes the state,
        // and the first, whose memory is now behind, stores nothing more.
        // The first checks its connection every few seconds and may take
        // its lock back before the other asks; then the other is refused,
        // and the cut is made again.
        let other = store.open_again().await;
        let mut second = None;
        for _ in 0..5 {
            cut_off(&store).await;
            match other.sandbox_claim("the second".into()).await {
                Ok(claim) => {
                    second = Some(claim);
                    break;
                }
                Err(StoreError::SandboxHeld(_)) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        let _second = second.expect("the second sandbox took the state over");
        let owner = held_by(store.sandbox_commit(customer(3)).await);
        assert!(owner.starts_with("the second, since "), "{owner}");
        assert!(owner.contains("cut off"), "{owner}");
        other.sandbox_commit(customer(4)).await.unwrap();
        let ids: Vec<String> = load(&store)
            .await
            .objects
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ids, ["cus_1", "cus_2", "cus_4"]);
    }
}
