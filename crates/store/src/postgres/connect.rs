//! How paywire reaches PostgreSQL: the connection URL's settings, and TLS
//! when the URL asks for it.
//!
//! `sslmode=require` makes every connection TLS and checks the server's
//! certificate against Mozilla's roots (what a managed database with a
//! public certificate needs) or against the CA certificates of the PEM file
//! that `sslrootcert=FILE` names (what a managed database with its own CA,
//! or a self-signed server, needs). Unlike libpq's `require`, which
//! encrypts without checking whom it talks to, paywire never sends its
//! password and payment data to a server it has not verified, so `require`
//! here is libpq's `verify-full`, and `verify-full` and `verify-ca` are
//! accepted as its synonyms. Without `sslmode`, or with `disable` or
//! `prefer`, connections are plain TCP: a database on the same host or
//! private network, as on a developer's machine. A connection that asked
//! for TLS never falls back to plain TCP.

use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// A parsed connection URL, and the TLS its connections use, if any.
#[derive(Clone)]
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
}

impl Target {
    /// One connection outside the pool, named `application` in the
    /// server's `pg_stat_activity`, over TLS when the URL asks for it.
    pub async fn connect(
        &self,
        application: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config = self.config.clone();
        config.application_name(application);
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                tokio::spawn(watch(connection));
                client
            }
            None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(watch(connection));
                client
            }
        };
        Ok(client)
    }
}

/// Drives a connection until it ends, saying why it did.
async fn watch<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "a connection to PostgreSQL ended");
    }
}

pub(super) fn target(url: &str) -> Result<Target, StoreError> {
    let invalid = |why: String| StoreError::Invalid(format!("the PostgreSQL URL {why}"));
    let (url, root_file) = take_tls_options(url);
    let config = tokio_postgres::Config::from_str(&url)
        .map_err(|e| invalid(format!("is not valid: {e}")))?;
    let tls = match (config.get_ssl_mode(), root_file) {
        (SslMode::Require, root_file) => Some(connector(root_file.as_deref())?),
        (_, Some(_)) => {
            return Err(invalid(
                "names an sslrootcert without sslmode=require: add sslmode=require to use TLS"
                    .into(),
            ));
        }
        (_, None) => None,
    };
    Ok(Target { config, tls })
}

/// Takes `sslrootcert` out of a URL's query (the driver does not know it)
/// and spells `verify-full` and `verify-ca` as `require`.
fn take_tls_options(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root_file = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslrootcert", file)) => root_file = Some(percent_decode(file)),
            Some(("sslmode", "verify-full" | "verify-ca")) => kept.push("sslmode=require".into()),
            _ => kept.push(pair.to_string()),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (url, root_file)
}

/// `%XX` escapes in a URL's value (a path may hold spaces or `&`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// TLS that trusts the certificates of `root_file`, or Mozilla's roots.
fn connector(root_file: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_file {
        Some(file) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::Invalid(format!(
                    "cannot read the CA certificates of sslrootcert={file}: {e}"
                ))
            };
            let certificates = CertificateDer::pem_file_iter(file)
                .map_err(|e| unreadable(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unreadable(&e))?;
            let (added, _ignored) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(unreadable(&"the file holds no PEM certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Database(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_of_the_query() {
        assert_eq!(
            take_tls_options("postgres://u@h/db"),
            ("postgres://u@h/db".into(), None)
        );
        assert_eq!(
            take_tls_options(
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=a"
            ),
            (
                "postgres://u@h/db?sslmode=require&application_name=a".into(),
                Some("/etc/ca x.pem".into())
            )
        );
        assert_eq!(
            take_tls_options("postgres://u@h/db?sslrootcert=/ca.pem"),
            ("postgres://u@h/db".into(), Some("/ca.pem".into()))
        );
    }

    #[test]
    fn plain_urls_use_no_tls_and_require_uses_the_public_roots() {
        assert!(target("postgres://u@h/db").unwrap().tls.is_none());
        assert!(
            target("postgres://u@h/db?sslmode=prefer")
                .unwrap()
                .tls
                .is_none()
        );
        assert!(
            target("postgres://u@h/db?sslmode=require")
                .unwrap()
                .tls
                .is_some()
        );
        assert!(
            target("postgres://u@h/db?sslmode=verify-ca")
                .unwrap()
                .tls
                .is_some()
        );
    }

    #[test]
    fn bad_tls_settings_are_refused_with_what_to_do() {
        let message = |url: &str| match target(url) {
            Err(StoreError::Invalid(m)) => m,
            Err(e) => panic!("{url}: {e}"),
            Ok(_) => panic!("{url} was accepted"),
        };
        assert!(
            message("postgres://u@h/db?sslrootcert=/ca.pem").contains("sslmode=require"),
            "a CA without TLS"
        );
        assert!(
            message("postgres://u@h/db?sslmode=require&sslrootcert=/no/such/ca.pem")
                .contains("/no/such/ca.pem")
        );
        let empty = std::env::temp_dir().join(format!("paywire-empty-ca-{}", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let said = message(&format!(
            "postgres://u@h/db?sslmode=require&sslrootcert={}",
            empty.display()
        ));
        std::fs::remove_file(&empty).unwrap();
        assert!(said.contains("no PEM certificate"), "{said}");
        assert!(message("postgres://u@h/db?sslmode=sometimes").contains("not valid"));
    }
}
