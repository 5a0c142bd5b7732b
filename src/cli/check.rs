//! `paywire check`: loads a project as `serve` would and reports on it,
//! without serving it.

use std::path::Path;
use std::process::ExitCode;

use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{Project, load_project};

/// What a project holds, as `check` and `serve` print it.
pub(super) fn summary(project: &Project) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {}, {}",
        count(project.apis.len(), "API"),
        count(project.workflows.len(), "workflow"),
        count(project.functions.len(), "function"),
        count(project.tables.len(), "table")
    )
}

/// Loads the project in `dir`, printing what it holds or every problem.
pub(super) fn check(dir: &Path) -> ExitCode {
    let evaluator = Evaluator::new(ExprLimits::default());
    match load_project(dir, &evaluator) {
        Ok(project) => {
            println!("{}: ok ({})", dir.display(), summary(&project));
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Standard error is unbuffered: written piece by piece, a report of
            // many thousand problems would cost a system call per fragment.
            let report = e.to_string();
            eprintln!("{report}");
            ExitCode::FAILURE
        }
    }
}
