//! The rules of the code's structure that the compiler cannot keep, checked
//! over the sources as rust-analyzer's tidy test does: which crate may use
//! which (ARCHITECTURE.md, "Code map"), where SQLite and axum may appear,
//! how long a file may grow, and that every file says what it is for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace's root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Each crate and the paywire crates it may depend on, as ARCHITECTURE.md
/// lists them. Cargo refuses cycles; this refuses a new arrow that the
/// architecture does not have, such as the model using the store.
const ALLOWED: &[(&str, &[&str])] = &[
    ("paywire-support", &[]),
    ("paywire-expr", &[]),
    ("paywire-model", &["paywire-support", "paywire-expr"]),
    ("paywire-store", &["paywire-support", "paywire-model"]),
    ("paywire-stripe", &["paywire-support"]),
    (
        "paywire-sandbox",
        &["paywire-support", "paywire-store", "paywire-stripe"],
    ),
    (
        "paywire-engine",
        &[
            "paywire-support",
            "paywire-expr",
            "paywire-model",
            "paywire-store",
            "paywire-stripe",
        ],
    ),
    (
        "paywire",
        &[
            "paywire-support",
            "paywire-expr",
            "paywire-model",
            "paywire-store",
            "paywire-stripe",
            "paywire-sandbox",
            "paywire-engine",
        ],
    ),
];

/// Outside crates that only some paywire crates may use (as a dependency,
/// not a dev-dependency): the store holds all SQL, and only the server and
/// the sandbox, which is a server of its own, know a web framework.
const CONFINED: &[(&str, &[&str])] = &[
    ("rusqlite", &["paywire-store"]),
    ("tokio-postgres", &["paywire-store"]),
    ("deadpool-postgres", &["paywire-store"]),
    ("axum", &["paywire", "paywire-sandbox"]),
    ("hyper", &["paywire"]),
    ("clap", &["paywire"]),
    ("async_stripe", &["paywire-stripe"]),
    ("rhai", &["paywire-expr", "paywire-engine"]),
    ("yaml-rust2", &["paywire-model"]),
];

const MAX_LINES: usize = 800;

/// A crate's manifest and its sources.
struct Crate {
    name: String,
    dir: PathBuf,
    dependencies: BTreeSet<String>,
}

fn crates() -> Vec<Crate> {
    let mut dirs = vec![root().to_path_buf()];
    let mut members: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/ is readable")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    members.sort();
    dirs.extend(members);
    dirs.into_iter()
        .map(|dir| {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            Crate {
                name: package_name(&manifest),
                dependencies: dependencies(&manifest),
                dir,
            }
        })
        .collect()
}

fn package_name(manifest: &str) -> String {
    let package = section(manifest, "package");
    package
        .lines()
        .find_map(|line| line.strip_prefix("name = "))
        .map(|name| name.trim_matches('"').to_string())
        .expect("every manifest names its package")
}

/// The names under a manifest's `[dependencies]` (dev-dependencies apart).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    section(manifest, "dependencies")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let key = line.split(['=', '.', ' ']).next()?;
            Some(key.to_string())
        })
        .collect()
}

/// The lines of `[name]` up to the next section.
fn section<'a>(manifest: &'a str, name: &str) -> &'a str {
    let header = format!("[{name}]\n");
    let start = if manifest.starts_with(&header) {
        0
    } else if let Some(at) = manifest.find(&format!("\n{header}")) {
        at + 1
    } else {
        return "";
    };
    let body = &manifest[start + header.len()..];
    let end = body.find("\n[").unwrap_or(body.len());
    &body[..end]
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

#[test]
fn every_crate_uses_only_the_crates_the_architecture_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let crates = crates();
    let names: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        allowed.keys().copied().collect(),
        "ALLOWED (and ARCHITECTURE.md) must list every crate of the workspace"
    );
    let mut wrong = Vec::new();
    for krate in &crates {
        for dependency in krate
            .dependencies
            .iter()
            .filter(|d| d.starts_with("paywire"))
        {
            if !allowed[krate.name.as_str()].contains(&dependency.as_str()) {
                wrong.push(format!("{} depends on {dependency}", krate.name));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies the architecture does not allow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn confined_crates_stay_where_they_belong() {
    let mut wrong = Vec::new();
    for krate in crates() {
        for (outside, owners) in CONFINED {
            if krate.dependencies.contains(*outside) && !owners.contains(&krate.name.as_str()) {
                wrong.push(format!("{} depends on {outside}", krate.name));
            }
        }
        // A crate that is not a dependency can still be reached by path
        // through one that is; the sources are read for that too.
        let mut files = Vec::new();
        rust_files(&krate.dir.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit tests may use dev-dependencies (the body reader's tests
            // build axum bodies).
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (outside, owners) in CONFINED {
                let path = format!("{}::", outside.replace('-', "_"));
                if text.contains(&path) && !owners.contains(&krate.name.as_str()) {
                    wrong.push(format!("{} uses {outside}", relative(&file)));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_file_is_longer_than_it_can_be_read() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("bench"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            let name = relative(file);
            (lines > MAX_LINES).then(|| format!("{name}: {lines} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines; split them along their sections:\n{}",
        long.join("\n")
    );
}

#[test]
fn every_file_says_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    let silent: Vec<String> = files
        .iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| relative(file))
        .collect();
    assert!(
        silent.is_empty(),
        "files that do not open with a `//!` comment:\n{}",
        silent.join("\n")
    );
}

#[test]
fn the_code_map_names_every_crate() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let missing: Vec<String> = crates()
        .into_iter()
        .filter(|krate| !architecture.contains(&format!("`{}`", krate.name)))
        .map(|krate| krate.name)
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name: {}",
        missing.join(", ")
    );
}
