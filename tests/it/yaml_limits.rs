//! Hostile YAML files: an alias bomb, a file too large, nesting too deep, a
//! file that is not UTF-8. Each is answered by a diagnostic with its place,
//! promptly and in bounded memory, through the loader, `paywire check` and a
//! `serve --watch` reload.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{Diagnostic, LoadError, MAX_FILE_BYTES, load_project, yaml};

use crate::common::{TestServer, project};

/// The alias bomb of issue #14: ten items, then seven levels of ten aliases
/// of the level before, 10^8 nodes once expanded (the "billion laughs"
/// shape). The issue gives its shape, not its bytes; this is that shape.
fn alias_bomb() -> String {
    let mut text = format!("l0: &l0 [{}]\n", ["x"; 10].join(", "));
    for level in 1..8 {
        let alias = format!("*l{}", level - 1);
        text += &format!("l{level}: &l{level} [{}]\n", vec![alias; 10].join(", "));
    }
    text
}

/// Loads a project folder as `check` and `serve` do, on a thread with the
/// 2 MiB stack of tokio's blocking threads (where `--watch` reloads run).
fn load_dir(dir: &Path) -> Result<(), Vec<Diagnostic>> {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let evaluator = Evaluator::new(ExprLimits::default());
            match load_project(&dir, &evaluator) {
                Ok(_) => Ok(()),
                Err(LoadError::Invalid(diagnostics)) => Err(diagnostics.0),
                Err(other) => panic!("not a diagnostic: {other}"),
            }
        })
        .unwrap()
        .join()
        .expect("the loader does not crash")
}

fn load(files: &[(&str, &str)]) -> Result<(), Vec<Diagnostic>> {
    let dir = project(files);
    load_dir(&dir.path().join("workflows"))
}

/// Runs `paywire check` on `dir`, giving up (and failing) after a bound far
/// beyond what an answer takes, so that a stall fails rather than hangs.
fn check(dir: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("check")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("`paywire check {}` did not answer in 30 s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_alias_bomb_is_refused_by_the_loader() {
    let problems = load(&[("bomb.yaml", &alias_bomb())]).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert!(problem.file.ends_with("bomb.yaml"), "{problem}");
    assert!(
        problem.message.contains(&format!(
            "anchors and aliases, expanded up to here, copy more than {}",
            yaml::MAX_ALIAS_COPY
        )),
        "{problem}"
    );
    // The place where the budget ran out, by position and YAML path.
    assert_eq!((problem.line, problem.column), (6, 20), "{problem}");
    assert_eq!(problem.path, "l5[2]");
    assert!(problem.hint.is_some());
}

#[test]
fn paywire_check_answers_the_alias_bomb() {
    let dir = project(&[("bomb.yaml", &alias_bomb())]);
    let (ok, stderr) = check(&dir.path().join("workflows"));
    assert!(!ok);
    assert!(
        stderr.contains("bomb.yaml:6:20: l5[2]: the file's anchors and aliases"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("1 problem"), "{stderr}");
}

#[tokio::test]
async fn a_watched_project_reports_the_alias_bomb_and_keeps_serving() {
    const HELLO: &str = "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ response: { body: hi } }]\n";
    let server = TestServer::start(&[("a.yaml", HELLO)]).await;
    let watcher = paywire::app::watch(server.app.clone(), Duration::from_millis(20)).await;
    crate::common::write_project(server.dir.path(), &[("bomb.yaml", &alias_bomb())]);
    let mut problems = None;
    for _ in 0..400 {
        problems = server.app.problems();
        if problems.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let problems = problems.expect("the bomb is reported");
    assert!(problems.contains("bomb.yaml:6:20: l5[2]:"), "{problems}");
    assert_eq!(server.get("/hello").await.body, "hi");
    watcher.abort();
    server.stop().await;
}

#[test]
fn anchors_for_shared_step_inputs_still_load() {
    let text = "tables:\n  events:\n    columns:\n      id: { type: text, primary_key: true }\n      kind: { type: text }\n\
        apis:\n  a:\n    method: POST\n    path: /a\n    steps:\n\
        \x20     - action: table.insert\n        with: &row { table: events, values: { id: \"{{ uuid() }}\", kind: seen } }\n\
        \x20     - action: table.insert\n        with: *row\n\
        \x20     - action: table.insert\n        with: *row\n\
        \x20     - response: { body: ok }\n";
    assert_eq!(load(&[("a.yaml", text)]), Ok(()));
}

#[test]
fn nesting_too_deep_is_a_diagnostic_not_a_stack_overflow() {
    // Block sequences nest without brackets, two bytes a level; block
    // mappings nest by indentation.
    let dashes = format!("{}x\n", "- ".repeat(100_000));
    let mappings: String = (0..1_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    for (name, text) in [("dashes.yaml", dashes), ("mappings.yaml", mappings)] {
        let problems = load(&[(name, &text)]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let problem = &problems[0];
        assert!(
            problem
                .message
                .contains(&format!("nest more than {} deep here", yaml::MAX_DEPTH)),
            "{problem}"
        );
        assert!(problem.line >= 1 && problem.column >= 1, "{problem}");
        assert!(!problem.path.is_empty(), "{problem}");
    }
}

#[test]
fn nesting_up_to_the_limit_loads_on_a_small_stack() {
    // Steps nested 60 deep (two YAML levels each) and literals nested to the
    // limit: every part of the decoder that recurses, on a 2 MiB stack.
    let mut steps = String::new();
    for level in 0..60 {
        let pad = " ".repeat(6 + 4 * level);
        steps += &format!("{pad}- if: \"{{{{ true }}}}\"\n{pad}  then:\n");
    }
    steps += &format!("{}- response: {{ body: ok }}\n", " ".repeat(6 + 4 * 60));
    steps += "      - response: { body: no }\n";
    let literal = |depth: usize| {
        format!(
            "{}\"{{{{ 1 }}}}\"{}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        )
    };
    let text = format!(
        "tables:\n  t:\n    columns:\n      id: {{ type: text, primary_key: true }}\n      j: {{ type: json }}\n\
         apis:\n  deep:\n    method: POST\n    path: /deep\n    steps:\n{steps}\
         \x20 literal:\n    method: POST\n    path: /literal\n    steps:\n\
         \x20     - action: table.insert\n        with: {{ table: t, values: {{ id: x, j: {} }} }}\n\
         \x20     - response:\n          body: {}\n",
        literal(yaml::MAX_DEPTH - 9),
        literal(yaml::MAX_DEPTH - 6),
    );
    assert_eq!(load(&[("deep.yaml", &text)]), Ok(()));
}

#[test]
fn a_file_over_the_size_limit_is_refused_with_its_name() {
    let big = "#".repeat(MAX_FILE_BYTES + 1);
    let problems = load(&[("big.yaml", &big)]).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].file.ends_with("big.yaml"));
    assert_eq!(
        problems[0]
            .to_string()
            .split_once("big.yaml")
            .map(|(_, rest)| rest.to_string()),
        Some(
            ":1:1: the file is larger than 1 MiB (1048576 bytes), the most paywire reads\n    \
             hint: split it: a project is every *.yaml and *.yml file in its folder"
                .to_string()
        )
    );
}

#[cfg(unix)]
#[test]
fn an_endless_device_named_yaml_is_not_read() {
    let dir = project(&[]);
    let workflows = dir.path().join("workflows");
    std::os::unix::fs::symlink("/dev/zero", workflows.join("zero.yaml")).unwrap();
    let (ok, stderr) = check(&workflows);
    assert!(!ok);
    assert!(stderr.contains("zero.yaml: not a regular file"), "{stderr}");
}

#[test]
fn a_file_that_is_not_utf8_is_reported_at_its_line_and_column() {
    let dir = project(&[]);
    let workflows = dir.path().join("workflows");
    std::fs::write(
        workflows.join("latin1.yaml"),
        b"apis:\n  a:\n    method: GET\n    path: /caf\xE9\n",
    )
    .unwrap();
    let (ok, stderr) = check(&workflows);
    assert!(!ok);
    assert!(
        stderr.contains(
            "latin1.yaml:4:15: the file is not UTF-8: the byte 0xE9 here does not belong\n    \
             hint: save the file as UTF-8"
        ),
        "{stderr}"
    );
}

#[test]
fn a_merge_key_is_explained() {
    let text = "apis:\n  a:\n    <<: { method: GET }\n    path: /a\n    steps: [{ response: { body: ok } }]\n";
    let problems = load(&[("m.yaml", text)]).unwrap_err();
    let merge = problems
        .iter()
        .find(|p| p.message == "unknown key `<<`")
        .expect("the merge key is reported");
    assert_eq!((merge.line, merge.column), (3, 5));
    assert!(
        merge
            .hint
            .as_deref()
            .unwrap()
            .contains("merge keys (`<<:`) are not supported"),
        "{merge}"
    );
}
