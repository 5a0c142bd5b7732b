//! The sandbox cases of the suite: what the Stripe sandbox commits loads
//! back after a restart.

use serde_json::json;

use paywire_store::{
    SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot,
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
        .sort_by(|a, b| a.event_id.cmp(&b.event_id));
    snapshot
}

async fn an_empty_sandbox_loads_nothing(store: TestStore) {
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

on_both_backends!(
    an_empty_sandbox_loads_nothing,
    the_sandbox_loads_what_was_committed,
    a_commit_replaces_objects_records_and_deliveries_by_id,
);
