//! Loads a project folder: reads every YAML file, decodes each, then runs the
//! checks that span files (duplicate names and routes, references to tables,
//! functions and workflows declared elsewhere).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::decode::{FileDecoder, ProjectIndex, join};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::routes::RouteTable;
use super::{Origin, Project, yaml};
use crate::expr::Evaluator;

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
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        files.push((path.display().to_string(), text));
    }
    load_project_files(&files, evaluator).map_err(LoadError::Invalid)
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
    let mut diags = Vec::new();
    let mut decoders = Vec::new();
    let mut project = Project::default();
    // Where each name was first declared, to point at both places when it repeats.
    let mut first_seen: HashMap<(&'static str, String), Origin> = HashMap::new();

    for (name, text) in files {
        project.files.push(name.clone());
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => continue,
            Err(e) => {
                diags.push(
                    Diagnostic::new(name, e.pos, "", format!("YAML syntax: {}", e.message))
                        .with_hint("check the indentation and quoting around this place"),
                );
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
