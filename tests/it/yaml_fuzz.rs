//! A seeded fuzz of the YAML loader: the example workflows, mutated the ways
//! hand edits and hostile files go wrong (bytes flipped, deleted or not UTF-8,
//! YAML punctuation inserted, lines duplicated or re-indented, anchors,
//! aliases and merge keys injected, the file cut short), loaded by the real
//! loader from a folder. Every case must finish without a panic, in bounded
//! time and heap, and every problem must carry a position and a message.
//!
//! `PAYWIRE_YAML_FUZZ_CASES` and `PAYWIRE_YAML_FUZZ_SEED` run more cases or
//! other ones; a failure names the seed and case that reproduce it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{LoadError, load_project};

use crate::common::{Rng, examples_dir};

/// Counts the heap each thread holds, so that a case's peak can be read on
/// the thread that ran it whatever other tests do meanwhile. It wraps the
/// system allocator for the whole test binary, at the cost of two
/// thread-local cells per allocation.
struct HeapMeter;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // During a thread's teardown its cells may be gone; that heap is not a
    // case's.
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call is passed to the system allocator unchanged; the meter
// only adds and subtracts the sizes it sees.
unsafe impl GlobalAlloc for HeapMeter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(signed(layout.size()));
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(signed(layout.size()));
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        moved
    }
}

#[global_allocator]
static HEAP: HeapMeter = HeapMeter;

/// The most heap one case may reach: a valid example takes a few MiB; the
/// loader's limits keep any file to tens of MiB; an alias bomb took GiBs.
const MAX_CASE_HEAP: isize = 256 << 20;
/// The longest one case may take, far beyond what a load takes even in a
/// debug build: it tells an answer from a stall.
const MAX_CASE_TIME: Duration = Duration::from_secs(5);

const PUNCTUATION: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "?",
    "? ",
    "|",
    "|-",
    ">",
    "'",
    "\"",
    "#",
    "!",
    "!!str ",
    "!!binary ",
    "%",
    "@",
    "`",
    "---\n",
    "...\n",
    "\t",
    "\n",
    " ",
    "{{",
    "}}",
    "\\",
    "&a ",
    "*a",
    "<<: ",
    "~",
    "null",
    "0x",
    "1e999",
    ".inf",
    "\u{FEFF}",
    "\r",
];

fn line_starts(text: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&start| start < text.len())
        .collect()
}

/// The line that starts at `start`, with its newline.
fn line_at(text: &[u8], start: usize) -> std::ops::Range<usize> {
    let end = text[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| start + i + 1);
    start..end
}

/// Applies one random mutation and says which it was.
fn mutate(rng: &mut Rng, text: &mut Vec<u8>) -> &'static str {
    if text.is_empty() {
        text.extend_from_slice(rng.pick(PUNCTUATION).as_bytes());
        return "insert into empty";
    }
    let at = rng.below(text.len());
    let lines = line_starts(text);
    let line = line_at(text, *rng.pick(&lines));
    match rng.below(20) {
        0 | 1 => {
            text[at] ^= 1 << rng.below(8);
            "flip a bit"
        }
        2 | 3 => {
            let end = (at + 1 + rng.below(16)).min(text.len());
            text.drain(at..end);
            "delete bytes"
        }
        4..=6 => {
            let insert = rng.pick(PUNCTUATION).as_bytes();
            text.splice(at..at, insert.iter().copied());
            "insert punctuation"
        }
        7 | 8 => {
            let copy = text[line.clone()].to_vec();
            text.splice(line.start..line.start, copy);
            "duplicate a line"
        }
        9 | 10 => {
            if rng.below(2) == 0 {
                let spaces = vec![b' '; 1 + rng.below(4)];
                text.splice(line.start..line.start, spaces);
                "indent a line"
            } else {
                let end = text[line.clone()]
                    .iter()
                    .take(1 + rng.below(4))
                    .take_while(|&&b| b == b' ')
                    .count();
                text.drain(line.start..line.start + end);
                "outdent a line"
            }
        }
        kind @ 11..=15 => {
            // An anchor on one value, then aliases of it replacing values
            // further on, the way a builder shares a value (or builds a
            // bomb), or merge keys of it.
            let values: Vec<usize> = text
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b": ")
                .map(|(i, _)| i + 2)
                .collect();
            if values.is_empty() {
                return "no value to anchor";
            }
            let anchored = *rng.pick(&values);
            let name = format!("n{}", rng.below(2));
            let mut edits = Vec::new();
            for _ in 0..1 + rng.below(4) {
                if anchored >= text.len() {
                    break;
                }
                let place = anchored + 1 + rng.below(text.len() - anchored);
                let line = line_at(text, *rng.pick(&line_starts(&text[..place])));
                if kind < 14 {
                    let Some(&value) = values.iter().find(|&&v| v >= place) else {
                        continue;
                    };
                    let end = line_at(text, value).end.saturating_sub(1).max(value);
                    edits.push((value, end, format!("*{name}")));
                } else if line.start > anchored {
                    let indent = text[line.clone()]
                        .iter()
                        .take_while(|&&b| b == b' ')
                        .count();
                    let merge = format!("{}<<: *{name}\n", " ".repeat(indent));
                    edits.push((line.start, line.start, merge));
                }
            }
            edits.push((anchored, anchored, format!("&{name} ")));
            // From the end, so that each edit leaves the places before it.
            edits.sort_by_key(|edit| std::cmp::Reverse(edit.0));
            let mut applied_from = text.len();
            for (start, end, edit) in edits {
                if end <= applied_from {
                    text.splice(start..end, edit.into_bytes());
                    applied_from = start;
                }
            }
            if kind < 14 {
                "inject an anchor and aliases"
            } else {
                "inject an anchor and merge keys"
            }
        }
        16 => {
            text.truncate(at);
            "truncate"
        }
        17 => {
            let byte = 0x80 + rng.below(0x80) as u8;
            text.insert(at, byte);
            "insert a byte that is not UTF-8"
        }
        _ => {
            let other = line_at(text, *rng.pick(&lines));
            if other.start > line.end {
                let moved = text[other.clone()].to_vec();
                text.drain(other);
                text.splice(line.start..line.start, moved);
            }
            "move a line"
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Loads `dir` as `check` does, returning the heap it reached and how long
/// it took, and checking what it reported.
fn load_case(dir: &Path, evaluator: &Evaluator, case: &str) -> (isize, Duration) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| load_project(dir, evaluator)));
    let elapsed = started.elapsed();
    let heap = PEAK.with(Cell::get) - base;
    match result {
        Err(_) => panic!("{case}: the loader panicked"),
        Ok(Ok(_)) => {}
        Ok(Err(LoadError::Invalid(diagnostics))) => {
            assert!(!diagnostics.0.is_empty(), "{case}: no problem reported");
            for problem in &diagnostics.0 {
                assert!(
                    problem.line >= 1 && problem.column >= 1,
                    "{case}: no position: {problem}"
                );
                assert!(!problem.message.is_empty(), "{case}: no message: {problem}");
                assert!(
                    problem.file.ends_with(".yaml"),
                    "{case}: no file: {problem}"
                );
            }
        }
        Ok(Err(other)) => panic!("{case}: not a diagnostic: {other}"),
    }
    (heap, elapsed)
}

#[test]
fn mutated_workflows_load_with_positions_in_bounded_time_and_heap() {
    let cases = env_number("PAYWIRE_YAML_FUZZ_CASES", 800);
    let seed = env_number("PAYWIRE_YAML_FUZZ_SEED", 14);
    let mut originals: Vec<(String, Vec<u8>)> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    originals.sort();
    let evaluator = Evaluator::new(ExprLimits::default());
    // Each case is one mutated file loaded alone: what it refers to in the
    // other files is then missing, which exercises the checks across files
    // too, and a case costs a few milliseconds.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut largest = (0, Duration::ZERO);
    for case in 0..cases {
        let (name, original) = rng.pick(&originals);
        let mut text = original.clone();
        let mutations: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| mutate(&mut rng, &mut text))
            .collect();
        let case = format!("seed {seed} case {case} ({name}: {})", mutations.join(", "));
        let workflows = dir.path().join("workflows");
        let _ = std::fs::remove_dir_all(&workflows);
        std::fs::create_dir_all(&workflows).unwrap();
        std::fs::write(workflows.join(name), &text).unwrap();
        let (heap, elapsed) = load_case(&workflows, &evaluator, &case);
        assert!(
            heap <= MAX_CASE_HEAP,
            "{case}: the loader reached {heap} bytes of heap"
        );
        assert!(
            elapsed <= MAX_CASE_TIME,
            "{case}: the loader took {elapsed:?}"
        );
        largest = (largest.0.max(heap), largest.1.max(elapsed));
    }
    eprintln!(
        "{cases} cases; the largest heap {} KiB, the longest {:?}",
        largest.0 >> 10,
        largest.1
    );
}
