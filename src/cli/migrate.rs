//! `paywire migrate`: copies a project's SQLite database whole into an empty
//! PostgreSQL database, the way a builder who outgrew one machine moves to
//! several instances.
//!
//! Everything is copied as it is stored: the builder's tables (created in
//! the target by `Store::migrate` from the project's declarations, exactly
//! as `serve` would create them), runs with their steps, the webhook inbox
//! with payloads, states, attempts and numbers of arrival, the instances
//! that used the file, console sign-outs, and the Stripe sandbox's state.
//! Each kind is read a page at a time in the order of its key and each page
//! is written in one transaction; at the end both databases are counted,
//! and the copy is done only if every count agrees.
//!
//! The target must be empty: no record of paywire's and no table of the
//! builder's. So a migrate that stopped half way (a lost connection, a
//! value PostgreSQL cannot hold) is not resumed: the target is emptied
//! (its tables dropped, or a new database made) and the command run again.
//! The SQLite file is read, not changed, but for what `serve` would do to
//! it on start: paywire's own tables brought to this version, and the
//! project's new tables and columns added (a change that would lose data
//! is refused, as `serve` refuses it). Nothing may write to the file while
//! it is copied: stop the server first.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{LoadError, Project, Table, load_project};
use paywire_store::{Counts, Database, Kind, MAX_PAGE, RecordKind, Store, StoreError};

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The SQLite file to copy, as `serve --db` named it. Stop the server
    /// using it first.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into, which must be empty:
    /// postgres://USER:PASSWORD@HOST:PORT/NAME [also PAYWIRE_DATABASE_URL]
    #[arg(
        long,
        value_name = "URL",
        env = "PAYWIRE_DATABASE_URL",
        hide_env_values = true
    )]
    pub to: String,
    /// The project folder whose tables the database holds: their columns
    /// are what the target's tables are made of.
    #[arg(long, env = "PAYWIRE_DIR", default_value = "workflows")]
    pub dir: PathBuf,
    /// Records per page; each page is one transaction.
    #[arg(long, default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE)))]
    pub page: u32,
}

/// Copies the file into the database, or says why it will not.
pub(super) async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let source = Database::Sqlite(args.from.clone());
    let target = Database::parse(&args.to);
    if !args.from.is_file() {
        eprintln!(
            "paywire migrate: there is no SQLite database at {source} (--from names the file `serve --db` used)"
        );
        return Ok(ExitCode::FAILURE);
    }
    if !target.is_shared() {
        eprintln!(
            "paywire migrate: --to must name a PostgreSQL database as postgres://USER:PASSWORD@HOST:PORT/NAME, not {target}"
        );
        return Ok(ExitCode::FAILURE);
    }
    let project = match load(args.dir.clone()).await {
        Ok(project) => project,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "paywire migrate needs the project whose database it copies, and {} does not check; fix the problems above (or name the project with --dir) and run it again.",
                args.dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let tables: Vec<Arc<Table>> = project.tables.values().cloned().collect();

    let from = source
        .open()
        .await
        .with_context(|| format!("cannot open {source}"))?;
    let undeclared: Vec<String> = from
        .count()
        .await
        .with_context(|| format!("cannot read {source}"))?
        .tables
        .into_keys()
        .filter(|name| !project.tables.contains_key(name))
        .collect();
    if !undeclared.is_empty() {
        eprintln!(
            "paywire migrate: {source} has tables that the project in {} does not declare, whose rows would be left behind: {}",
            args.dir.display(),
            undeclared.join(", ")
        );
        eprintln!(
            "declare them in the project (or drop them from the file if their data can go) and run it again."
        );
        return Ok(ExitCode::FAILURE);
    }

    let to = target
        .open()
        .await
        .with_context(|| format!("cannot open {target}"))?;
    let there = to
        .count()
        .await
        .with_context(|| format!("cannot read {target}"))?;
    if !there.is_empty() {
        eprintln!("paywire migrate: {target} is not empty; it holds:");
        for line in there.found() {
            eprintln!("  {line}");
        }
        eprintln!(
            "migrate copies into an empty database only, so that nothing there is mixed with the copy: give it a new database (createdb), or drop what is there, and run it again."
        );
        return Ok(ExitCode::FAILURE);
    }

    // The file first, so that a project that would lose data there is
    // refused before anything is made in the target.
    for (store, database, in_target) in [(&from, &source, false), (&to, &target, true)] {
        if let Err(e) = store.migrate(tables.clone()).await {
            eprintln!(
                "paywire migrate: the tables of {database} cannot be made to match the project:\n{e}"
            );
            if in_target {
                eprintln!("{RETRY_ADVICE}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }

    println!("copying {source} into {target}");
    let started = Instant::now();
    let outcome = copy(&*from, &*to, &tables, args.page).await;
    let copied = match outcome {
        Ok(copied) => copied,
        Err(e) => {
            eprintln!("paywire migrate: the copy stopped: {e}");
            eprintln!("{RETRY_ADVICE}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (held, now_there) =
        tokio::try_join!(from.count(), to.count()).context("cannot count what was copied")?;
    let disagreements = disagreements(&copied, &[(&source, &held), (&target, &now_there)]);
    if !disagreements.is_empty() {
        eprintln!("paywire migrate: the counts after the copy do not agree with what was copied:");
        for line in disagreements {
            eprintln!("  {line}");
        }
        eprintln!("was something writing to either database? {RETRY_ADVICE}");
        return Ok(ExitCode::FAILURE);
    }
    let total: u64 = copied.records.values().chain(copied.tables.values()).sum();
    println!(
        "done: {total} records copied in {:.1}s, and both databases hold the same counts; serve from {target} with paywire serve --db and the URL given to --to.",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// What to do after a migrate that changed the target and then stopped.
const RETRY_ADVICE: &str = "the target may now hold part of the copy, and migrate copies only into an empty database: drop what it made there (or use a new database) and run paywire migrate again. The SQLite file is as it was.";

/// Where the counts of the databases differ from what was copied, one line
/// each.
fn disagreements(copied: &Counts, counted: &[(&Database, &Counts)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (database, counts) in counted {
        for (kind, n) in &copied.records {
            let there = counts.records.get(kind).copied().unwrap_or(0);
            if there != *n {
                lines.push(format!(
                    "{}: {n} copied, {there} in {database}",
                    kind.name()
                ));
            }
        }
        let names = copied.tables.keys().chain(counts.tables.keys());
        for name in names.collect::<std::collections::BTreeSet<_>>() {
            let (n, there) = (copied.tables.get(name), counts.tables.get(name));
            if n != there {
                let (n, there) = (n.copied().unwrap_or(0), there.copied().unwrap_or(0));
                lines.push(format!("table {name}: {n} copied, {there} in {database}"));
            }
        }
    }
    lines
}

/// Loads the project in `dir` as `serve` does, on a blocking thread.
async fn load(dir: PathBuf) -> Result<Project, LoadError> {
    tokio::task::spawn_blocking(move || load_project(&dir, &Evaluator::new(ExprLimits::default())))
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })
        })
}

/// Copies every kind, page by page, printing a line as each is done;
/// answers how many records of each kind were written.
async fn copy(
    from: &dyn Store,
    to: &dyn Store,
    tables: &[Arc<Table>],
    page: u32,
) -> Result<Counts, StoreError> {
    let mut copied = Counts::default();
    for table in tables {
        let rows = copy_kind(from, to, Kind::Table(table.clone()), page).await?;
        println!(
            "  {:<36} {rows:>9} row{}",
            format!("table {}", table.name),
            if rows == 1 { "" } else { "s" }
        );
        copied.tables.insert(table.name.clone(), rows);
    }
    for kind in RecordKind::ALL {
        let records = copy_kind(from, to, Kind::Records(kind), page).await?;
        println!("  {:<36} {records:>9}", kind.name());
        copied.records.insert(kind, records);
    }
    Ok(copied)
}

/// Copies one kind, a page (one transaction) at a time.
async fn copy_kind(
    from: &dyn Store,
    to: &dyn Store,
    kind: Kind,
    page: u32,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let mut after = None;
    loop {
        let next = from.export(kind.clone(), after, page).await?;
        if !next.records.is_empty() {
            written += to.import(next.records).await?;
        }
        match next.next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(written),
        }
    }
}
