//! PostgreSQL alone: connections over TLS (`sslmode=require`), to a server
//! whose certificate a test CA signed. The store reaches it when given that
//! CA (`sslrootcert`), and its connections are encrypted; it refuses the
//! server under another CA or under the public roots, rather than talk to
//! a server it could not verify or fall back to plain TCP.
//!
//! The server's TLS is set up by `.ci/postgres-tls`, which prints the
//! folder to name in `PAYWIRE_TEST_POSTGRES_TLS` (holding `ca.pem` and
//! `other-ca.pem`). Without it these cases skip with a message, unless
//! `PAYWIRE_POSTGRES_TESTS=required`, when they fail.

use std::path::PathBuf;

use paywire_store::StoreError;
use paywire_store::postgres::PostgresStore;

use crate::common::{postgres_url, with_schema};

/// The test server, the folder of its CA, and a schema of its own named
/// after the case.
async fn tls_server(case: &str) -> Option<(String, PathBuf, String)> {
    let url = postgres_url()?;
    let folder = match std::env::var("PAYWIRE_TEST_POSTGRES_TLS") {
        Ok(folder) if !folder.is_empty() => PathBuf::from(folder),
        _ => {
            assert_ne!(
                std::env::var("PAYWIRE_POSTGRES_TESTS").as_deref(),
                Ok("required"),
                "PAYWIRE_POSTGRES_TESTS=required, but PAYWIRE_TEST_POSTGRES_TLS names no CA folder"
            );
            eprintln!(
                "skipped: PostgreSQL's TLS is not set up here. Run `sudo .ci/postgres-tls` and set PAYWIRE_TEST_POSTGRES_TLS to the folder it prints (README, \"Tests\")"
            );
            return None;
        }
    };
    let schema = format!("paywire_tls_{case}_{}", std::process::id());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test server");
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    Some((url, folder, schema))
}

fn with_tls(url: &str, schema: &str, tls: &str) -> String {
    format!("{}&{tls}", with_schema(url, schema))
}

async fn drop_schema(url: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_with_the_servers_ca() {
    let Some((url, folder, schema)) = tls_server("ca").await else {
        return;
    };
    let application = format!("paywire_tls_test_{}", std::process::id());
    let tls = format!(
        "sslmode=require&sslrootcert={}&application_name={application}",
        folder.join("ca.pem").display()
    );
    let store = PostgresStore::open(&with_tls(&url, &schema, &tls))
        .await
        .expect("the store reaches the server over TLS");
    use paywire_store::Store;
    store.flush().await.unwrap();
    assert!(
        store
            .list_runs(Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    // Every connection the store holds is encrypted, as the server sees it.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .unwrap();
    assert!(!rows.is_empty(), "the store's connections are not listed");
    assert!(
        rows.iter().all(|r| r.get::<_, bool>(0)),
        "a connection is not TLS"
    );
    drop(store);
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_refuses_a_server_it_cannot_verify() {
    let Some((url, folder, schema)) = tls_server("refused").await else {
        return;
    };
    let other = format!(
        "sslmode=require&sslrootcert={}",
        folder.join("other-ca.pem").display()
    );
    // Under another CA, and under the public roots (which never signed a
    // test CA), the handshake fails and nothing is sent in the clear.
    for tls in [other.as_str(), "sslmode=require", "sslmode=verify-full"] {
        match PostgresStore::open(&with_tls(&url, &schema, tls)).await {
            Err(StoreError::Unavailable(message)) => {
                assert!(
                    message.contains("TLS") || message.contains("certificate"),
                    "{tls}: {message}"
                );
                assert!(
                    !message.contains("paywire@"),
                    "the message shows the URL: {message}"
                );
            }
            Err(e) => panic!("{tls}: {e}"),
            Ok(_) => panic!("{tls}: the store connected to a server it cannot verify"),
        }
    }
    drop_schema(&url, &schema).await;
}
