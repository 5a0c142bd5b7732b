//! Micro-benchmarks of the pieces every request or event goes through:
//! expression evaluation, template rendering, webhook signatures and the
//! step runner. `cargo bench -p paywire-bench`; `bench/run` runs them in
//! quick mode. BENCHMARKS.md says what the figures mean.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rhai::Scope;
use serde_json::{Value, json};

use paywire_bench::events::checkout_completed;
use paywire_engine::actions::{ActionError, ActionExecutor, ActionFuture, ActionPlan, ActionSite};
use paywire_engine::inbox::event_context;
use paywire_engine::runner::{RunIdentity, Runner};
use paywire_expr::{Evaluator, ExprLimits, Part, Template, context_to_dynamic, read_only_shared};
use paywire_model::load_project_files;
use paywire_store::{
    Counts, Cursor, EventFilter, EventRecord, EventUpdate, Heartbeat, InstanceRecord, Kind,
    MigrationReport, NewEvent, Page, Records, Recovery, RunDetail, RunFilter, RunRecord,
    RunRecords, SandboxChanges, SandboxClaim, SandboxSnapshot, StepCommit, Store, StoreFuture,
    TableOp,
};
use paywire_stripe::signature;

const SECRET: &str = "whsec_paywire_bench";

fn event() -> Value {
    serde_json::from_str(&checkout_completed("micro", 1, 1_700_000_000)).unwrap()
}

/// A scope as the runner makes one for an event's run: `context` is the
/// event's context, converted once and shared.
fn event_scope(context: &Value) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant_dynamic("context", read_only_shared(context_to_dynamic(context)));
    scope
}

fn expressions(c: &mut Criterion) {
    let evaluator = Evaluator::new(ExprLimits::default());
    let context = event_context(event());
    let mut scope = event_scope(&context);
    let mut group = c.benchmark_group("expr");
    let field = evaluator
        .compile("context.event.action", &["context"])
        .unwrap();
    group.bench_function("field", |b| {
        b.iter(|| evaluator.eval(&field, &mut scope).unwrap())
    });
    let arithmetic = evaluator
        .compile("context.event.object.amount_total / 100", &["context"])
        .unwrap();
    group.bench_function("arithmetic", |b| {
        b.iter(|| evaluator.eval(&arithmetic, &mut scope).unwrap())
    });
    let condition = evaluator
        .compile(
            r#"if context.event.object.payment_status == "paid" { "paid" } else { "processing" }"#,
            &["context"],
        )
        .unwrap();
    group.bench_function("if_else", |b| {
        b.iter(|| evaluator.eval(&condition, &mut scope).unwrap())
    });
    // What a run pays once: the event's context as a Rhai value.
    group.bench_function("context_to_dynamic", |b| {
        b.iter(|| read_only_shared(context_to_dynamic(&context)))
    });
    group.finish();
}

fn templates(c: &mut Criterion) {
    let evaluator = Evaluator::new(ExprLimits::default());
    let context = event_context(event());
    let mut scope = event_scope(&context);
    let expr = |source: &str| evaluator.compile(source, &["context"]).unwrap();
    let mut group = c.benchmark_group("template");
    let interpolate = Template::Interpolate(vec![
        Part::Text("order ".into()),
        Part::Expr(expr("context.event.object.metadata.order_id")),
        Part::Text(" is ".into()),
        Part::Expr(expr("context.event.action")),
    ]);
    group.bench_function("interpolate", |b| {
        b.iter(|| evaluator.render(&interpolate, &mut scope).unwrap())
    });
    // The `values:` of the end-to-end workflow's upsert.
    let object = Template::Object(vec![
        (
            "id".into(),
            Template::Expr(expr("context.event.object.metadata.order_id")),
        ),
        ("status".into(), Template::Literal(json!("paid"))),
        (
            "amount".into(),
            Template::Expr(expr("context.event.object.amount_total")),
        ),
        (
            "customer_id".into(),
            Template::Expr(expr("context.event.object.customer")),
        ),
        (
            "last_event_at".into(),
            Template::Expr(expr("context.event.created")),
        ),
    ]);
    group.bench_function("object_5_fields", |b| {
        b.iter(|| evaluator.render(&object, &mut scope).unwrap())
    });
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let payload = checkout_completed("micro", 1, 1_700_000_000);
    let payload = payload.as_bytes();
    let header = signature::header(payload, SECRET, 1_700_000_000);
    let mut group = c.benchmark_group("signature");
    group.bench_function("verify_2_5kb", |b| {
        b.iter(|| signature::verify(payload, Some(&header), &[SECRET], 300, 1_700_000_010).unwrap())
    });
    group.bench_function("sign_2_5kb", |b| {
        b.iter(|| signature::header(payload, SECRET, 1_700_000_000))
    });
    group.finish();
}

/// A store that keeps nothing: the runner's own cost, without SQLite.
struct NullStore;

fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    Box::pin(async move { Ok(value) })
}

impl Store for NullStore {
    fn migrate(&self, _: Vec<Arc<paywire_model::Table>>) -> StoreFuture<'_, MigrationReport> {
        ready(MigrationReport::default())
    }
    fn table_op(&self, _: TableOp, _: Option<StepCommit>) -> StoreFuture<'_, Value> {
        ready(Value::Null)
    }
    fn records_room(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
    fn record(&self, _: RunRecords) {}
    fn count_rows(&self, t: Vec<Arc<paywire_model::Table>>) -> StoreFuture<'_, Vec<u64>> {
        ready(vec![0; t.len()])
    }
    fn list_runs(&self, _: RunFilter) -> StoreFuture<'_, Vec<RunRecord>> {
        ready(Vec::new())
    }
    fn get_run(&self, _: String) -> StoreFuture<'_, Option<RunDetail>> {
        ready(None)
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
    fn event_received(&self, _: NewEvent) -> StoreFuture<'_, bool> {
        ready(true)
    }
    fn claim_events(&self, _: String, _: i64, _: u32) -> StoreFuture<'_, Vec<EventRecord>> {
        ready(Vec::new())
    }
    fn claimed_events(&self, _: String, _: i64) -> StoreFuture<'_, Vec<EventRecord>> {
        ready(Vec::new())
    }
    fn next_event_due(&self, _: i64) -> StoreFuture<'_, Option<i64>> {
        ready(None)
    }
    fn event_update(&self, _: EventUpdate) -> StoreFuture<'_, bool> {
        ready(true)
    }
    fn list_events(&self, _: EventFilter) -> StoreFuture<'_, Vec<EventRecord>> {
        ready(Vec::new())
    }
    fn get_event(&self, _: String) -> StoreFuture<'_, Option<EventRecord>> {
        ready(None)
    }
    fn runs_of_events(&self, _: Vec<String>) -> StoreFuture<'_, Vec<RunRecord>> {
        ready(Vec::new())
    }
    fn step_output(&self, _: String, _: String) -> StoreFuture<'_, Option<Value>> {
        ready(None)
    }
    fn heartbeat(&self, _: Heartbeat) -> StoreFuture<'_, Recovery> {
        ready(Recovery::default())
    }
    fn leave(&self, _: String) -> StoreFuture<'_, Recovery> {
        ready(Recovery::default())
    }
    fn list_instances(&self) -> StoreFuture<'_, Vec<InstanceRecord>> {
        ready(Vec::new())
    }
    fn claim_startup(&self, _: String, _: String, _: i64, _: i64) -> StoreFuture<'_, bool> {
        ready(true)
    }
    fn sign_out_session(&self, _: String, _: i64) -> StoreFuture<'_, ()> {
        ready(())
    }
    fn session_signed_out(&self, _: String) -> StoreFuture<'_, bool> {
        ready(false)
    }
    fn sandbox_claim(&self, _: String) -> StoreFuture<'_, SandboxClaim> {
        ready(SandboxClaim::new(()))
    }
    fn sandbox_load(&self) -> StoreFuture<'_, SandboxSnapshot> {
        ready(SandboxSnapshot::default())
    }
    fn sandbox_commit(&self, _: SandboxChanges) -> StoreFuture<'_, ()> {
        ready(())
    }
    fn count(&self) -> StoreFuture<'_, Counts> {
        ready(Counts::default())
    }
    fn export(&self, _: Kind, _: Option<Cursor>, _: u32) -> StoreFuture<'_, Page> {
        ready(Page {
            records: Records::Runs(Vec::new()),
            next: None,
        })
    }
    fn import(&self, records: Records) -> StoreFuture<'_, u64> {
        ready(records.len() as u64)
    }
}

struct NoActions;

impl ActionExecutor for NoActions {
    fn plan(
        &self,
        spec: &'static paywire_model::catalogue::ActionSpec,
        _: &Value,
        _: ActionSite<'_>,
    ) -> Result<ActionPlan, ActionError> {
        Err(ActionError::invalid(
            "NoActions",
            format!("{} is not run in this benchmark", spec.name),
        ))
    }

    fn call_stripe(&self, _: paywire_stripe::client::Call) -> ActionFuture<'_> {
        Box::pin(async {
            Err(ActionError::invalid(
                "NoActions",
                "no Stripe call is made in this benchmark",
            ))
        })
    }
}

const RUNNER_PROJECT: &str = r#"
workflows:
  on-checkout-session:
    trigger:
      event: stripe.checkout_session
      actions: [completed, expired]
    steps:
      - switch: context.event.action
        cases:
          completed:
            - set: status
              value: '{{ if context.event.object.payment_status == "paid" { "paid" } else { "processing" } }}'
          expired:
            - set: status
              value: expired
      - set: amount
        value: "{{ context.event.object.amount_total }}"
      - set: note
        value: "order {{ context.event.object.metadata.order_id }} is {{ vars.status }}"

apis:
  quote:
    method: POST
    path: /quote
    params:
      amount:   { type: integer, required: true, min: 50, max: 10000000 }
      quantity: { type: integer, default: 1, min: 1, max: 99 }
    steps:
      - set: subtotal
        value: "{{ context.parameters.amount * context.parameters.quantity }}"
      - set: tax
        value: "{{ vars.subtotal / 5 }}"
      - set: total
        value: "{{ vars.subtotal + vars.tax }}"
      - response:
          body: { total: "{{ vars.total }}", tax: "{{ vars.tax }}" }
"#;

fn runner(c: &mut Criterion) {
    let evaluator = Arc::new(Evaluator::new(ExprLimits::default()));
    let project = load_project_files(
        &[("bench.yaml".to_string(), RUNNER_PROJECT.to_string())],
        &evaluator,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let project = Arc::new(project);
    let runner = Runner::new(
        project.clone(),
        evaluator,
        Arc::new(NoActions),
        Arc::new(NullStore),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("runner");

    // An event's run: the whole event context, a switch with a set in it,
    // and two sets (the context is converted to Rhai once per run).
    let workflow = project.workflows["on-checkout-session"].clone();
    let context = event_context(event());
    group.bench_function("event_switch_and_2_sets", |b| {
        b.iter(|| {
            let outcome = rt.block_on(runner.run_workflow(
                RunIdentity::new(),
                workflow.clone(),
                &context,
                Value::Null,
            ));
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
        })
    });

    // The `api` scenario's steps: three sets and a response, on a small
    // context, as one request runs them.
    let api = project.api("quote").unwrap().clone();
    let context = json!({"parameters": {"amount": 1250, "quantity": 2}, "request": {}});
    group.bench_function("api_3_sets_and_response", |b| {
        b.iter(|| {
            let (reply, answer) = tokio::sync::oneshot::channel();
            rt.block_on(async {
                runner
                    .run_api(
                        RunIdentity::new(),
                        api.clone(),
                        &context,
                        Value::Null,
                        reply,
                    )
                    .await;
                answer.await.unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, expressions, templates, signatures, runner);
criterion_main!(benches);
