//! `paywire-bench`: runs the scenarios of BENCHMARKS.md against release
//! builds of `paywire serve` and of the baseline server, prints the table and
//! writes `target/bench/results.json`.
//!
//! ```text
//! paywire-bench [--duration S] [--warmup S] [--connections N] [--only a,b]
//!               [--out FILE] [--client-threads N]
//! paywire-bench micro CRITERION_DIR RESULTS_JSON   # adds criterion's medians
//! ```
//!
//! The PostgreSQL scenarios (`…_pg` with one instance, `…_pg2` with two on
//! one database) run against the server named by `PAYWIRE_BENCH_POSTGRES`
//! (a URL whose user may create schemas); without it they are skipped, and
//! the table says so.
//!
//! It exits 0 when every scenario ran, whether or not targets were met (the
//! table says which were); it exits non-zero only when a scenario could not
//! run at all.

mod cluster;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};

use cluster::Setup;
use paywire_bench::db::Backend;
use paywire_bench::load::Outcome;
use paywire_bench::server::{self, Server};
use scenarios::{
    api_insert_scenario, api_scenario, baseline_scenario, end_to_end_scenario, ingest_scenario,
    load_scenario,
};

const SCENARIOS: [&str; 12] = [
    "baseline",
    "api",
    "api_insert",
    "webhook_ingest",
    "end_to_end",
    "api_insert_pg",
    "webhook_ingest_pg",
    "end_to_end_pg",
    "api_insert_pg2",
    "webhook_ingest_pg2",
    "end_to_end_pg2",
    "load_1000",
];

/// The scenario a name stands for, and the setup it runs on: `…_pg` on
/// PostgreSQL with one instance, `…_pg2` with two.
fn setup_of(name: &str) -> (&str, Setup) {
    if let Some(base) = name.strip_suffix("_pg2") {
        (base, Setup::postgres(2))
    } else if let Some(base) = name.strip_suffix("_pg") {
        (base, Setup::postgres(1))
    } else {
        (name, Setup::SQLITE)
    }
}

struct Args {
    duration: Duration,
    warmup: Duration,
    connections: usize,
    only: Vec<String>,
    out: PathBuf,
    client_threads: usize,
    /// End to end: how many acknowledged events may wait to run before the
    /// senders hold back.
    backlog: u64,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args {
        duration: Duration::from_secs(8),
        warmup: Duration::from_secs(2),
        connections: 32,
        only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        out: PathBuf::from("target/bench/results.json"),
        client_threads: 2,
        backlog: 1_000,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--duration" => parsed.duration = Duration::from_secs_f64(value()?.parse()?),
            "--warmup" => parsed.warmup = Duration::from_secs_f64(value()?.parse()?),
            "--connections" => parsed.connections = value()?.parse()?,
            "--client-threads" => parsed.client_threads = value()?.parse()?,
            "--backlog" => parsed.backlog = value()?.parse()?,
            "--out" => parsed.out = PathBuf::from(value()?),
            "--only" => {
                parsed.only = value()?.split(',').map(str::to_string).collect();
                if let Some(unknown) = parsed
                    .only
                    .iter()
                    .find(|s| !SCENARIOS.contains(&s.as_str()))
                {
                    bail!(
                        "no scenario `{unknown}`; the scenarios are {}",
                        SCENARIOS.join(", ")
                    );
                }
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    Ok(parsed)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("micro") {
        args.next();
        let criterion = PathBuf::from(
            args.next()
                .ok_or_else(|| anyhow!("micro CRITERION_DIR RESULTS_JSON"))?,
        );
        let results = PathBuf::from(
            args.next()
                .ok_or_else(|| anyhow!("micro CRITERION_DIR RESULTS_JSON"))?,
        );
        return micro_report(&criterion, &results);
    }
    let args = parse_args(args)?;
    // The client's own runtime; the servers under test are other processes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// One row of the table.
#[derive(Default)]
struct Figure {
    throughput: f64,
    unit: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    rss_mb: f64,
    /// Fields beside the standard ones in results.json.
    extra: Map<String, Value>,
    /// What the scenario must reach, and whether it did.
    targets: Vec<Target>,
}

struct Target {
    what: String,
    met: bool,
}

impl Figure {
    fn from_outcome(outcome: &Outcome, unit: &'static str, rss_mb: f64) -> Figure {
        let mut extra = Map::new();
        extra.insert("requests".into(), json!(outcome.ok));
        extra.insert("failed".into(), json!(outcome.failed));
        if let Some(why) = &outcome.first_failure {
            extra.insert("first_failure".into(), json!(why));
        }
        Figure {
            throughput: outcome.throughput(),
            unit,
            p50_ms: outcome.percentile_ms(0.50),
            p99_ms: outcome.percentile_ms(0.99),
            p999_ms: outcome.percentile_ms(0.999),
            rss_mb,
            extra,
            targets: Vec::new(),
        }
    }

    /// Records the server's CPU time per request (µs): see
    /// [`Server::cpu_us_per_request`].
    fn cpu_per_request(&mut self, server: &Server, cpu_before: f64, requests: u64) {
        let us = server.cpu_us_per_request(cpu_before, requests);
        self.extra.insert("server_cpu_us".into(), number(us));
    }

    fn target(&mut self, what: impl Into<String>, met: bool) {
        self.targets.push(Target {
            what: what.into(),
            met,
        });
    }
}

struct Bench {
    args: Args,
    paywire: PathBuf,
    baseline: PathBuf,
    work: tempfile::TempDir,
    logs: PathBuf,
    /// A tag that makes this run's event ids unique.
    tag: String,
    /// The PostgreSQL server of the `…_pg` scenarios, if any.
    postgres: Option<String>,
}

impl Bench {
    fn log(&self, scenario: &str) -> PathBuf {
        self.logs.join(format!("{scenario}.log"))
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let paywire = server::sibling("paywire")?;
    let baseline = server::sibling("paywire-bench-baseline")?;
    let out_dir = args
        .out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let logs = out_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let cx = Bench {
        paywire,
        baseline,
        work: tempfile::Builder::new().prefix("paywire-bench").tempdir()?,
        logs,
        tag,
        args,
        postgres: std::env::var("PAYWIRE_BENCH_POSTGRES")
            .ok()
            .filter(|url| !url.is_empty()),
    };
    println!(
        "paywire-bench: {} connections, {:?} warm-up, {:?} measured per scenario; {} client threads; {} cores",
        cx.args.connections,
        cx.args.warmup,
        cx.args.duration,
        cx.args.client_threads,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut figures: Vec<(&str, Figure)> = Vec::new();
    let mut baseline_answer: Option<Value> = None;
    for name in SCENARIOS {
        if !cx.args.only.iter().any(|o| o == name) {
            continue;
        }
        println!("-- {name}");
        let (scenario, setup) = setup_of(name);
        if setup.backend == Backend::Postgres && cx.postgres.is_none() {
            println!(
                "   skipped: set PAYWIRE_BENCH_POSTGRES=postgres://USER:PASSWORD@127.0.0.1/DB to run it"
            );
            continue;
        }
        let started = std::time::Instant::now();
        let figure = match scenario {
            "baseline" => baseline_scenario(&cx, &mut baseline_answer).await,
            "api" => api_scenario(&cx, baseline_answer.as_ref()).await,
            "api_insert" => api_insert_scenario(&cx, name, setup).await,
            "webhook_ingest" => ingest_scenario(&cx, name, setup).await,
            "end_to_end" => end_to_end_scenario(&cx, name, setup).await,
            "load_1000" => load_scenario(&cx).await,
            _ => unreachable!("every name in SCENARIOS has a scenario"),
        }
        .with_context(|| format!("scenario {name}"))?;
        let cpu = figure
            .extra
            .get("server_cpu_us")
            .and_then(Value::as_f64)
            .map_or(String::new(), |us| format!(", server CPU {us:.1} µs each"));
        println!(
            "   {:.0} {} p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms, peak RSS {:.1} MB{cpu} ({:.1} s)",
            figure.throughput,
            figure.unit,
            figure.p50_ms,
            figure.p99_ms,
            figure.p999_ms,
            figure.rss_mb,
            started.elapsed().as_secs_f64()
        );
        figures.push((name, figure));
    }

    // Every throughput as a ratio to the baseline measured in this run.
    let base = figures
        .iter()
        .find(|(n, _)| *n == "baseline")
        .map(|(_, f)| f.throughput);
    let ratio = |name: &str, figure: &Figure| -> Option<f64> {
        match (name, base) {
            ("load_1000", _) => None,
            (_, Some(base)) if base > 0.0 => Some(figure.throughput / base),
            _ => None,
        }
    };
    // Targets that need the baseline, and the memory under load.
    for (name, figure) in figures.iter_mut() {
        if *name == "api"
            && let Some(r) = ratio(name, figure)
        {
            figure.target("≥ 0.5× baseline", r >= 0.5);
        }
        if !matches!(*name, "baseline" | "load_1000") {
            let rss = figure.rss_mb;
            figure.target("RSS < 200 MB", rss < 200.0);
        }
    }
    // Two instances on one database must not be slower than one; on this
    // machine's two cores they share the CPU with each other and with the
    // database, so "not slower" allows 5% of noise.
    let one_instance = |name: &str| {
        figures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.throughput)
    };
    let compared: Vec<(usize, f64)> = figures
        .iter()
        .enumerate()
        .filter_map(|(i, (name, _))| {
            let single = name.strip_suffix("_pg2").map(|base| format!("{base}_pg"))?;
            Some((i, one_instance(&single)?))
        })
        .collect();
    for (i, single) in compared {
        let figure = &mut figures[i].1;
        let t = figure.throughput;
        figure.target(
            format!("not slower than one instance ({single:.0})"),
            t >= 0.95 * single,
        );
    }

    let mut scenarios = Map::new();
    for (name, figure) in &figures {
        let mut entry = Map::new();
        entry.insert("throughput".into(), number(figure.throughput));
        entry.insert("unit".into(), json!(figure.unit));
        entry.insert("p50_ms".into(), number(figure.p50_ms));
        entry.insert("p99_ms".into(), number(figure.p99_ms));
        entry.insert("p999_ms".into(), number(figure.p999_ms));
        entry.insert(
            "ratio".into(),
            ratio(name, figure).map(number).unwrap_or(Value::Null),
        );
        entry.insert("rss_mb".into(), number(figure.rss_mb));
        for (k, v) in &figure.extra {
            entry.insert(k.clone(), v.clone());
        }
        entry.insert(
            "targets".into(),
            Value::Array(
                figure
                    .targets
                    .iter()
                    .map(|t| json!({"target": t.what, "met": t.met}))
                    .collect(),
            ),
        );
        scenarios.insert(name.to_string(), Value::Object(entry));
    }
    let results = json!({
        "scenarios": scenarios,
        "settings": {
            "connections": cx.args.connections,
            "warmup_s": cx.args.warmup.as_secs_f64(),
            "duration_s": cx.args.duration.as_secs_f64(),
            "client_threads": cx.args.client_threads,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "durability": format!("{}; {}", Backend::Sqlite.label(), Backend::Postgres.label()),
        },
    });
    if let Some(dir) = cx.args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cx.args.out, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("cannot write {}", cx.args.out.display()))?;

    println!();
    print_table(&figures, &ratio);
    println!("\nwritten to {}", cx.args.out.display());
    Ok(())
}

fn number(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn print_table(figures: &[(&str, Figure)], ratio: &dyn Fn(&str, &Figure) -> Option<f64>) {
    println!(
        "| scenario | throughput | ratio | p50 ms | p99 ms | p99.9 ms | peak RSS MB | targets |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for (name, f) in figures {
        let targets = f
            .targets
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    t.what,
                    if t.met { "**met**" } else { "**MISSED**" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "| {name} | {:.0} {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
            f.throughput,
            f.unit,
            ratio(name, f)
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "–".into()),
            f.p50_ms,
            f.p99_ms,
            f.p999_ms,
            f.rss_mb,
            if targets.is_empty() {
                "–".into()
            } else {
                targets
            }
        );
    }
}

/// Adds criterion's medians (from `CRITERION_DIR/*/*/new/estimates.json`) to
/// results.json under `micro`, and prints them.
fn micro_report(criterion: &Path, results: &Path) -> anyhow::Result<()> {
    let mut micro = Map::new();
    let mut rows = Vec::new();
    for group in read_dirs(criterion)? {
        for bench in read_dirs(&group)? {
            let estimates = bench.join("new").join("estimates.json");
            let Ok(text) = std::fs::read_to_string(&estimates) else {
                continue;
            };
            let value: Value = serde_json::from_str(&text)?;
            let median_ns = value["median"]["point_estimate"]
                .as_f64()
                .unwrap_or(f64::NAN);
            let name = format!(
                "{}/{}",
                group.file_name().unwrap_or_default().to_string_lossy(),
                bench.file_name().unwrap_or_default().to_string_lossy()
            );
            rows.push((name.clone(), median_ns));
            micro.insert(name, json!({"median_ns": number(median_ns)}));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    println!("| micro-benchmark | median | target |");
    println!("|---|---:|---|");
    for (name, ns) in &rows {
        let target = if name.starts_with("expr/") && name.contains("field") {
            format!(
                "< 1 µs **{}**",
                if *ns < 1_000.0 { "met" } else { "MISSED" }
            )
        } else {
            "–".into()
        };
        let shown = if *ns >= 1_000_000.0 {
            format!("{:.2} ms", ns / 1e6)
        } else if *ns >= 1_000.0 {
            format!("{:.2} µs", ns / 1e3)
        } else {
            format!("{ns:.0} ns")
        };
        println!("| {name} | {shown} | {target} |");
    }
    let mut all: Value = match std::fs::read_to_string(results) {
        Ok(text) => serde_json::from_str(&text)?,
        Err(_) => json!({"scenarios": {}}),
    };
    all["micro"] = Value::Object(micro);
    std::fs::write(results, serde_json::to_string_pretty(&all)? + "\n")?;
    Ok(())
}

fn read_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "report") {
            out.push(path);
        }
    }
    Ok(out)
}
