//! Loads a project folder: reads every YAML file, decodes each, then runs the
//! checks that span files (duplicate names and routes, references to tables,
//! functions and workflows declared elsewhere).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::decode::{FileDecoder, ProjectIndex, join};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::routes::RouteTable;
use super::yaml::{self, Pos};
use super::{Origin, Project};
use paywire_expr::Evaluator;

/// The largest workflow file paywire reads, in bytes. It is checked before
/// parsing, so that what one file can cost the loader stays bounded; the
/// examples are a few kilobytes each.
pub const MAX_FILE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the project at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no workflow files (*.yaml, *.yml) in {0}")]
    Empty(PathBuf),
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Loads every `*.yaml` and `*.yml` file under `dir`, in name order.
pub fn load_project(dir: &Path, evaluator: &Evaluator) -> Result<Project, LoadError> {
    let mut paths = Vec::new();
    collect_yaml_files(dir, &mut paths).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if paths.is_empty() {
        return Err(LoadError::Empty(dir.to_path_buf()));
    }
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = read_at_most(&path, MAX_FILE_BYTES + 1).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        files.push((path.display().to_string(), bytes));
    }
    load_sources(&files, evaluator).map_err(LoadError::Invalid)
}

/// Reads up to `limit` bytes of a file: enough to tell that it is too large
/// without reading all of it (a `.yaml` name may even be a link to an endless
/// device). Anything but a regular file is refused, since opening a named
/// pipe would wait for a writer for ever.
fn read_at_most(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A file's contents as text, or the diagnostic saying why it is not
/// workflow text: larger than [`MAX_FILE_BYTES`], or not UTF-8 (reported at
/// the line and column of the first byte that is not).
fn source_text<'s>(name: &str, bytes: &'s [u8]) -> Result<&'s str, Diagnostic> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            name,
            Pos { line: 1, column: 1 },
            "",
            format!(
                "the file is larger than {} MiB ({MAX_FILE_BYTES} bytes), the most paywire reads",
                MAX_FILE_BYTES >> 20
            ),
        )
        .with_hint("split it: a project is every *.yaml and *.yml file in its folder"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        // The prefix up to the bad byte is valid UTF-8, so it can be counted
        // in characters, the way every other column is counted.
        let line_start = valid
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        let pos = Pos {
            line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + std::str::from_utf8(&valid[line_start..])
                .unwrap_or_default()
                .chars()
                .count(),
        };
        let bad = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
        let hint = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
            "the file looks like UTF-16; save it as UTF-8"
        } else {
            "save the file as UTF-8; paywire reads workflow files only as UTF-8"
        };
        Diagnostic::new(
            name,
            pos,
            "",
            format!("the file is not UTF-8: the byte 0x{bad:02X} here does not belong"),
        )
        .with_hint(hint)
    })
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads a project from `(file name, contents)` pairs.
pub fn load_project_files(
    files: &[(String, String)],
    evaluator: &Evaluator,
) -> Result<Project, Diagnostics> {
    load_sources(files, evaluator)
}

/// A digest of the files' names and contents, in the order of their names,
/// each length-prefixed so that no two different projects run together.
fn version_of<B: AsRef<[u8]>>(files: &[(String, B)]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, B)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut digest = Sha256::new();
    for (name, bytes) in sorted {
        let bytes = bytes.as_ref();
        digest.update((name.len() as u64).to_le_bytes());
        digest.update(name.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    }
    hex::encode(&digest.finalize()[..8])
}

/// Loads a project from `(file name, bytes)` pairs, whether the bytes were
/// read from files or given as text.
fn load_sources<B: AsRef<[u8]>>(
    files: &[(String, B)],
    evaluator: &Evaluator,
) -> Result<Project, Diagnostics> {
    let mut diags = Vec::new();
    let mut decoders = Vec::new();
    let mut project = Project::default();
    // Where each name was first declared, to point at both places when it repeats.
    let mut first_seen: HashMap<(&'static str, String), Origin> = HashMap::new();
    project.version = version_of(files);

    for (name, bytes) in files {
        project.files.push(name.clone());
        let parsed = source_text(name, bytes.as_ref()).and_then(|text| {
            yaml::parse(text).map_err(|e| {
                Diagnostic::new(name, e.pos(), e.path(), e.to_string()).with_hint(e.hint())
            })
        });
        let root = match parsed {
            Ok(Some(root)) => root,
            Ok(None) => continue,
            Err(diagnostic) => {
                diags.push(diagnostic);
                continue;
            }
        };
        let mut decoder = FileDecoder::new(name, evaluator);
        let items = decoder.file(&root);
        let mut duplicate = |kind: &'static str, item: &str, origin: &Origin| -> bool {
            match first_seen.get(&(kind, item.to_string())) {
                Some(first) => {
                    diags.push(
                        Diagnostic::new(
                            &origin.file,
                            origin.pos,
                            &origin.path,
                            format!("the {kind} `{item}` is declared twice"),
                        )
                        .with_hint(format!("it is first declared at {first}")),
                    );
                    true
                }
                None => {
                    first_seen.insert((kind, item.to_string()), origin.clone());
                    false
                }
            }
        };
        for table in items.tables {
            if !duplicate("table", &table.name, &table.origin) {
                project.tables.insert(table.name.clone(), Arc::new(table));
            }
        }
        for api in items.apis {
            if duplicate("api", &api.name, &api.origin) {
                continue;
            }
            project.apis.push(Arc::new(api));
        }
        for workflow in items.workflows {
            if !duplicate("workflow", &workflow.name, &workflow.origin) {
                project
                    .workflows
                    .insert(workflow.name.clone(), Arc::new(workflow));
            }
        }
        for function in items.functions {
            if !duplicate("function", &function.name, &function.origin) {
                project
                    .functions
                    .insert(function.name.clone(), Arc::new(function));
            }
        }
        decoders.push(decoder);
    }

    let (routes, clashes) =
        RouteTable::build(project.apis.iter().map(|a| (a.method, a.path.as_str())));
    for clash in clashes {
        let origin = &project.apis[clash.api].origin;
        diags.push(
            Diagnostic::new(
                &origin.file,
                origin.pos,
                &join(&origin.path, "path"),
                "this route clashes with another API",
            )
            .with_hint(clash.message),
        );
    }
    project.routes = routes;

    let index = ProjectIndex {
        tables: &project.tables,
        functions: &project.functions,
        workflows: &project.workflows,
    };
    for mut decoder in decoders {
        decoder.check_deferred(&index);
        diags.append(&mut decoder.diags);
    }
    if diags.is_empty() {
        Ok(project)
    } else {
        diags.sort();
        diags.dedup();
        Err(Diagnostics(diags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_that_is_not_utf8_is_placed_by_line_and_character() {
        // `é` is two bytes but one column, as in every other diagnostic.
        let bytes = b"a: 1\nb: \xC3\xA9\xFF\n";
        let d = source_text("w.yaml", bytes).unwrap_err();
        assert_eq!((d.line, d.column), (2, 5));
        assert_eq!(
            d.message,
            "the file is not UTF-8: the byte 0xFF here does not belong"
        );
        let utf16 = source_text("w.yaml", b"\xFF\xFEa\0:\0").unwrap_err();
        assert_eq!((utf16.line, utf16.column), (1, 1));
        assert!(utf16.hint.unwrap().contains("UTF-16"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read_as_text() {
        assert!(source_text("w.yaml", &vec![b'#'; MAX_FILE_BYTES]).is_ok());
        let d = source_text("w.yaml", &vec![b'#'; MAX_FILE_BYTES + 1]).unwrap_err();
        assert_eq!((d.file.as_str(), d.line, d.column), ("w.yaml", 1, 1));
        assert!(d.message.contains("larger than 1 MiB"), "{d}");
    }
}
