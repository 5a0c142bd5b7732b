//! The one owner of a SQLite database's Stripe sandbox state: a lock on a
//! file beside the database (`paywire.db-sandbox.lock`), which also says who
//! holds it.
//!
//! The sandbox keeps its objects in memory and writes them through, so two
//! sandboxes on one file (a `paywire sandbox` and a keyless `paywire serve`,
//! say) would each overwrite what the other wrote. The lock is the
//! operating system's (`flock` on Unix), so it goes with its process,
//! however that ends. It is not taken on the database file itself: SQLite
//! locks that file with POSIX locks, which a process loses on every file
//! of the database it closes, so paywire opens it no other way. The file
//! is left behind when the owner stops: removing it would let a sandbox
//! that opened it just before lock a file nobody else sees.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The ownership, as the store keeps it: the open, locked file. Closing it
/// (dropping the last handle) releases the lock.
pub(super) struct Owner {
    _file: Option<File>,
}

/// The lock file of the database at `db`.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-sandbox.lock");
    PathBuf::from(name)
}

/// Claims the sandbox's state of the database at `db` for `owner` (see
/// `Store::sandbox_claim`). Blocking: file I/O.
pub(super) fn claim(db: &Path, owner: &str) -> Result<Owner, StoreError> {
    let path = lock_path(db);
    let cannot = |e: std::io::Error| {
        StoreError::Database(format!(
            "cannot lock the sandbox's state at {}: {e}",
            path.display()
        ))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // The owner wrote its description once it held the lock; one
            // that has not yet is "another process".
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::SandboxHeld(if holder.is_empty() {
                "another process".to_string()
            } else {
                holder.to_string()
            }));
        }
        Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            // A file system without locks (some network mounts): paywire
            // cannot tell, and runs as it did before it checked.
            tracing::warn!(
                path = %path.display(),
                "this file system cannot lock files: paywire cannot check that no other sandbox uses this database"
            );
            return Ok(Owner { _file: None });
        }
        Err(TryLockError::Error(e)) => return Err(cannot(e)),
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{owner}, since {since}"))
        .map_err(cannot)?;
    Ok(Owner { _file: Some(file) })
}
