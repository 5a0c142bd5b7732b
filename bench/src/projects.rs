//! The projects the scenarios serve, written into a temporary folder.

use std::path::Path;

/// Scenario `api`: parameter validation, three expression steps and a
/// response. `POST /quote` with [`QUOTE_REQUEST`] answers what the baseline
/// answers.
pub const API: &str = r#"
apis:
  quote:
    method: POST
    path: /quote
    params:
      amount:   { type: integer, required: true, min: 50, max: 10000000 }
      quantity: { type: integer, default: 1, min: 1, max: 99 }
      currency: { type: string, default: usd, one_of: [usd, eur, gbp, jpy] }
      email:    { type: string, max_length: 254 }
    steps:
      - set: subtotal
        value: "{{ context.parameters.amount * context.parameters.quantity }}"
      - set: tax
        value: "{{ vars.subtotal / 5 }}"
      - set: total
        value: "{{ vars.subtotal + vars.tax }}"
      - response:
          body:
            total: "{{ vars.total }}"
            subtotal: "{{ vars.subtotal }}"
            tax: "{{ vars.tax }}"
            currency: "{{ context.parameters.currency }}"
"#;

pub const QUOTE_REQUEST: &str =
    r#"{"amount": 1250, "quantity": 2, "currency": "usd", "email": "ada@example.com"}"#;

/// Scenario `api_insert`: an API that inserts a row with a new uuid as its
/// key and answers 201 after the row (and its step's record) is committed.
pub const API_INSERT: &str = r#"
tables:
  payments:
    columns:
      id:         { type: text, primary_key: true }
      amount:     { type: integer, required: true }
      currency:   { type: text, default: usd, required: true }
      email:      { type: text }
      created_at: { type: timestamp }

apis:
  create-payment:
    method: POST
    path: /payments
    params:
      amount:   { type: integer, required: true, min: 50 }
      currency: { type: string, default: usd, one_of: [usd, eur, gbp, jpy] }
      email:    { type: string, max_length: 254 }
    steps:
      - id: row
        action: table.insert
        with:
          table: payments
          values:
            id: "{{ `pay_${uuid()}` }}"
            amount: "{{ context.parameters.amount }}"
            currency: "{{ context.parameters.currency }}"
            email: "{{ context.parameters.email }}"
            created_at: "{{ now() }}"
      - response:
          status: 201
          body: { id: "{{ steps.row.id }}" }
"#;

pub const INSERT_REQUEST: &str =
    r#"{"amount": 2500, "currency": "usd", "email": "ada@example.com"}"#;

/// Scenario `webhook_ingest`: no workflow listens to the events, so each is
/// verified, stored and answered (the inbox then marks it `ignored`).
pub const INGEST: &str = r#"
apis:
  ping:
    method: GET
    path: /ping
    steps:
      - response: { body: { ok: true } }
"#;

/// Scenario `end_to_end`: every `checkout.session.completed` runs a workflow
/// that switches on `context.event.action` and writes the order's row
/// (an upsert: the row is the order's, made by the first event about it).
pub const END_TO_END: &str = r#"
tables:
  orders:
    columns:
      id:            { type: text, primary_key: true }
      status:        { type: text, default: pending, required: true }
      amount:        { type: integer }
      customer_id:   { type: text }
      paid_at:       { type: timestamp }
      last_event_at: { type: integer }

workflows:
  on-checkout-session:
    trigger:
      event: stripe.checkout_session
      actions: [completed, async_payment_succeeded, async_payment_failed, expired]
    steps:
      - switch: context.event.action
        cases:
          completed:
            - set: status
              value: '{{ if context.event.object.payment_status == "paid" { "paid" } else { "processing" } }}'
          async_payment_succeeded:
            - set: status
              value: paid
          async_payment_failed:
            - set: status
              value: failed
          expired:
            - set: status
              value: expired
      - action: table.insert
        with:
          table: orders
          on_conflict: update
          values:
            id: "{{ context.event.object.metadata.order_id }}"
            status: "{{ vars.status }}"
            amount: "{{ context.event.object.amount_total }}"
            customer_id: "{{ context.event.object.customer }}"
            paid_at: '{{ if vars.status == "paid" { now() } else { () } }}'
            last_event_at: "{{ context.event.created }}"
"#;

/// Writes `files` into `dir`.
pub fn write(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// A project of `workflows` workflows (ten to a file) in three shapes, as a
/// shop's backend would have them: Checkout and payment-intent event handlers
/// that look an order up, guard against stale events, switch on the action
/// and write rows, and manual workflows with parameters, loops, a function
/// call and error handling. Every step kind but `wait` appears.
pub fn generated(workflows: usize) -> Vec<(String, String)> {
    let mut files = vec![("tables.yaml".to_string(), GENERATED_TABLES.to_string())];
    let per_file = 10;
    for file in 0..workflows.div_ceil(per_file) {
        let mut text = format!(
            "# Generated for the load_1000 benchmark.\nfunctions:\n{}\nworkflows:\n",
            generated_function(file)
        );
        for i in 0..per_file.min(workflows - file * per_file) {
            let name = format!("wf-{file:03}-{i}");
            let shape = match (file * per_file + i) % 3 {
                0 => CHECKOUT_SHAPE,
                1 => INTENT_SHAPE,
                _ => MANUAL_SHAPE,
            };
            text.push_str(
                &shape
                    .replace("@NAME@", &name)
                    .replace("@FILE@", &format!("{file:03}")),
            );
        }
        files.push((format!("flows-{file:03}.yaml"), text));
    }
    files
}

const GENERATED_TABLES: &str = r#"
tables:
  orders:
    columns:
      id:              { type: text, primary_key: true }
      status:          { type: text, default: pending, required: true }
      amount:          { type: integer, required: true }
      currency:        { type: text, default: usd, required: true }
      email:           { type: text }
      customer_id:     { type: text }
      refunded_amount: { type: integer, default: 0 }
      failure_reason:  { type: text }
      paid_at:         { type: timestamp }
      last_event_at:   { type: integer }
  receipts:
    columns:
      order_id:   { type: text, primary_key: true }
      email:      { type: text }
      amount:     { type: integer, required: true }
      currency:   { type: text, required: true }
      created_at: { type: timestamp }
  ledger:
    columns:
      entry:      { type: text, primary_key: true }
      order_id:   { type: text, required: true }
      amount:     { type: integer, required: true }
      note:       { type: text }
"#;

fn generated_function(file: usize) -> String {
    format!(
        r#"  line-total-{file:03}:
    params:
      unit_amount: {{ type: integer, required: true, min: 0 }}
      quantity:    {{ type: integer, required: true, min: 1 }}
    steps:
      - return: "{{{{ context.parameters.unit_amount * context.parameters.quantity }}}}"
"#
    )
}

const CHECKOUT_SHAPE: &str = r#"  @NAME@:
    trigger:
      event: stripe.checkout_session
      actions: [completed, async_payment_succeeded, async_payment_failed, expired]
    steps:
      - id: order
        action: table.select
        with: { table: orders, id: "{{ context.event.object.metadata?.order_id ?? \"\" }}" }
      - if: "steps.order == ()"
        then:
          - log: "session {{ context.event.object.id }} is not one of ours"
        else:
          - if: "steps.order.last_event_at != () && steps.order.last_event_at > context.event.created"
            then:
              - log: "{{ context.event.type }} is older than order {{ steps.order.id }}; ignored"
            else:
              - switch: context.event.action
                cases:
                  completed:
                    - set: status
                      value: '{{ if context.event.object.payment_status == "paid" { "paid" } else { "processing" } }}'
                  async_payment_succeeded:
                    - set: status
                      value: paid
                  async_payment_failed:
                    - set: status
                      value: failed
                  expired:
                    - set: status
                      value: expired
              - action: table.update
                with:
                  table: orders
                  id: "{{ steps.order.id }}"
                  values:
                    status: "{{ vars.status }}"
                    amount: "{{ context.event.object.amount_total ?? steps.order.amount }}"
                    customer_id: "{{ context.event.object.customer ?? steps.order.customer_id }}"
                    paid_at: '{{ if vars.status == "paid" { now() } else { steps.order.paid_at } }}'
                    last_event_at: "{{ context.event.created }}"
              - if: 'vars.status == "paid"'
                then:
                  - action: table.insert
                    with:
                      table: receipts
                      on_conflict: nothing
                      values:
                        order_id: "{{ steps.order.id }}"
                        email: "{{ context.event.object.customer_details?.email ?? steps.order.email }}"
                        amount: "{{ context.event.object.amount_total }}"
                        currency: "{{ context.event.object.currency }}"
                        created_at: "{{ now() }}"
              - log: "order {{ steps.order.id }} is {{ vars.status }} (@NAME@)"
"#;

const INTENT_SHAPE: &str = r#"  @NAME@:
    trigger:
      event: stripe.payment_intent
      actions: [succeeded, payment_failed, canceled]
    steps:
      - id: order
        action: table.select
        with: { table: orders, id: "{{ context.event.object.metadata?.order_id ?? \"\" }}" }
      - when: "steps.order != ()"
        id: route
        switch: context.event.action
        cases:
          succeeded:
            - action: table.update
              with:
                table: orders
                id: "{{ steps.order.id }}"
                values: { status: paid, paid_at: "{{ now() }}", last_event_at: "{{ context.event.created }}" }
          payment_failed:
            - action: table.update
              with:
                table: orders
                id: "{{ steps.order.id }}"
                values:
                  status: failed
                  failure_reason: "{{ context.event.object.last_payment_error?.message ?? \"unknown\" }}"
          canceled:
            - action: table.update
              with:
                table: orders
                where: { id: "{{ steps.order.id }}", status: { in: [pending, processing] } }
                values: { status: canceled }
      - log: "payment intent {{ context.event.object.id }}: {{ context.event.action }} (@NAME@)"
        level: debug
"#;

const MANUAL_SHAPE: &str = r#"  @NAME@:
    trigger: manual
    params:
      order_id: { type: string, required: true }
      lines:    { type: array, required: true, min_length: 1, max_length: 100 }
      note:     { type: string, max_length: 200 }
    steps:
      - set: total
        value: 0
      - for_each: "context.parameters.lines"
        as: line
        index_as: n
        steps:
          - id: line_total
            call: line-total-@FILE@
            with: { unit_amount: "{{ line.unit_amount ?? 0 }}", quantity: "{{ line.quantity ?? 1 }}" }
          - set: total
            value: "{{ vars.total + steps.line_total }}"
      - try:
          - if: "vars.total <= 0"
            then:
              - throw: { name: EmptyOrder, message: "order {{ context.parameters.order_id }} totals nothing", status: 400 }
          - action: table.insert
            with:
              table: ledger
              values:
                entry: "{{ `led_${uuid()}` }}"
                order_id: "{{ context.parameters.order_id }}"
                amount: "{{ vars.total }}"
                note: "{{ context.parameters.note ?? \"\" }}"
        catch:
          - log: "{{ error.name }}: {{ error.message }}"
            level: warn
      - set: attempts
        value: 0
      - while: "vars.attempts < 2"
        max_iterations: 5
        steps:
          - set: attempts
            value: "{{ vars.attempts + 1 }}"
"#;
