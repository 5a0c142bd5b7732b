//! [`Database`]: where a store lives, as an operator names it (`--db`,
//! `PAYWIRE_DB`, `PAYWIRE_DATABASE_URL`): a SQLite file, or a PostgreSQL
//! database by URL.
//!
//! A PostgreSQL URL may carry a password, so the location never shows
//! itself whole: `Display` and `Debug` print the URL with its password
//! replaced, which is what logs, banners and error messages get.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created when missing: the embedded default.
    Sqlite(PathBuf),
    /// A PostgreSQL database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    Postgres(String),
}

impl Database {
    /// Reads an operator's `--db`: a `postgres://` or `postgresql://` URL
    /// names PostgreSQL, anything else a SQLite file (`sqlite://` may prefix
    /// it).
    pub fn parse(text: &str) -> Database {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.to_string())
        } else {
            Database::Sqlite(PathBuf::from(
                text.strip_prefix("sqlite://").unwrap_or(text),
            ))
        }
    }

    /// Opens the store: a SQLite file is created if missing; a PostgreSQL
    /// database must exist, and paywire's own tables are created in it.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(path.clone()).await?),
            Database::Postgres(url) => Arc::new(PostgresStore::open(url).await?),
        })
    }

    /// Whether the store already holds something to read: a SQLite file
    /// that exists (opening would create an empty one), or any PostgreSQL
    /// database (its tables are created on open).
    pub fn exists(&self) -> bool {
        match self {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres(_) => true,
        }
    }

    /// Whether several instances can share this store.
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Database {
        Database::Sqlite(path)
    }
}

impl From<&std::path::Path> for Database {
    fn from(path: &std::path::Path) -> Database {
        Database::Sqlite(path.to_path_buf())
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Database, Self::Err> {
        Ok(Database::parse(text))
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

/// `url` with the password of its user part, if any, replaced by `***`,
/// and its query (which may carry `password=`) left out.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split('?').next().unwrap_or_default();
    // The user part ends at the last `@` before the path: a password may
    // itself hold an `@` when it is not percent-encoded.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let shown = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let name = user.split(':').next().unwrap_or_default();
            if user.contains(':') {
                format!("{name}:***@{host}")
            } else {
                format!("{name}@{host}")
            }
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{shown}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_postgres_and_everything_else_a_file() {
        assert_eq!(
            Database::parse("paywire.db"),
            Database::Sqlite("paywire.db".into())
        );
        assert_eq!(
            Database::parse("sqlite://data/p.db"),
            Database::Sqlite("data/p.db".into())
        );
        assert!(matches!(
            Database::parse("postgresql://u@h/db"),
            Database::Postgres(_)
        ));
    }

    #[test]
    fn a_password_never_shows() {
        let cases = [
            (
                "postgres://paywire:s3cret@db.internal:5432/pay",
                "postgres://paywire:***@db.internal:5432/pay",
            ),
            (
                "postgres://paywire:p@ss@word@db/pay",
                "postgres://paywire:***@db/pay",
            ),
            (
                "postgres://paywire@db/pay?password=s3cret",
                "postgres://paywire@db/pay",
            ),
            ("postgres://db/pay", "postgres://db/pay"),
        ];
        for (url, shown) in cases {
            let db = Database::parse(url);
            assert_eq!(db.to_string(), shown);
            assert!(!format!("{db:?}").contains("s3cret"));
            assert!(!format!("{db:?}").contains("ss@word"));
        }
    }
}
