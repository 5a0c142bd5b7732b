//! The sandbox's objects in memory, and the transaction one request works in.
//!
//! Every object is kept as Stripe's JSON. The whole state is loaded from the
//! store at start; each request changes it under one lock and hands what it
//! changed to the store before the lock is released, so the database sees
//! changes in the order they happened.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::API_VERSION;
use super::error::StripeError;
use paywire_store::{SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot};

/// The endpoint of the sandbox's settings (`SandboxConfig::webhook_url`), as
/// its deliveries name it: it is no object, so it has no `we_…` id.
pub const CONFIGURED_ENDPOINT: &str = "";

#[derive(Default)]
pub struct State {
    objects: HashMap<String, Value>,
    seq: HashMap<String, i64>,
    /// Ids of each kind of object, oldest first.
    by_kind: HashMap<String, Vec<String>>,
    next_seq: i64,
    pub idempotency: HashMap<String, SandboxIdempotency>,
    /// Each event's deliveries, one per endpoint it goes to.
    deliveries: HashMap<String, Vec<SandboxDelivery>>,
}

impl State {
    pub fn from_snapshot(snapshot: SandboxSnapshot) -> State {
        let mut state = State::default();
        for object in snapshot.objects {
            state.next_seq = state.next_seq.max(object.seq + 1);
            state
                .by_kind
                .entry(object.object.clone())
                .or_default()
                .push(object.id.clone());
            state.seq.insert(object.id.clone(), object.seq);
            state.objects.insert(object.id, object.data);
        }
        for record in snapshot.idempotency {
            state.idempotency.insert(record.key.clone(), record);
        }
        for delivery in snapshot.deliveries {
            state.record_delivery(delivery);
        }
        state
    }

    /// Keeps where a delivery stands, replacing what was known of it.
    pub fn record_delivery(&mut self, delivery: SandboxDelivery) {
        let of_event = self
            .deliveries
            .entry(delivery.event_id.clone())
            .or_default();
        match of_event
            .iter_mut()
            .find(|d| d.endpoint == delivery.endpoint)
        {
            Some(known) => *known = delivery,
            None => of_event.push(delivery),
        }
    }

    /// The deliveries of one event, one per endpoint it goes to.
    pub fn deliveries_of(&self, event_id: &str) -> &[SandboxDelivery] {
        self.deliveries
            .get(event_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every delivery, for resuming those not done after a restart.
    pub fn all_deliveries(&self) -> impl Iterator<Item = &SandboxDelivery> {
        self.deliveries.values().flatten()
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects.get(id)
    }

    /// Objects of one kind, newest first.
    pub fn newest_first<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        self.by_kind
            .get(kind)
            .map(|ids| ids.as_slice())
            .unwrap_or(&[])
            .iter()
            .rev()
            .filter_map(|id| self.objects.get(id))
    }
}

/// Random characters for ids, as Stripe's ids have.
pub fn random_id(prefix: &str, length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(prefix.len() + length);
    out.push_str(prefix);
    while out.len() < prefix.len() + length {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == prefix.len() + length {
                break;
            }
            out.push(ALPHABET[*byte as usize % ALPHABET.len()] as char);
        }
    }
    out
}

/// One request's view of the state and the record of what it changed.
pub struct Tx<'s> {
    state: &'s mut State,
    pub now: i64,
    /// Ids changed, in the order they first changed.
    changed: Vec<String>,
    /// What each changed id held before this transaction (`None`: it is new),
    /// so that a refused request leaves no trace.
    before: Vec<Option<Value>>,
    /// Ids of the events emitted, to deliver once committed.
    pub events: Vec<String>,
    /// Deliveries this transaction records: those owed for its events, and
    /// where the attempts of earlier ones stand.
    pub deliveries: Vec<SandboxDelivery>,
    /// Deliveries asked for again (`POST /v1/events/{id}/retry`), as event
    /// and endpoint, to attempt once committed.
    pub retries: Vec<(String, String)>,
    /// The `request` of the events this request causes.
    request: Value,
    /// Whether events go to the endpoint of the sandbox's settings, besides
    /// the endpoints created through the API.
    configured_endpoint: bool,
    /// The URL the sandbox is reached at, for hosted pages.
    pub base_url: String,
    /// How failed invoice payments are retried.
    pub dunning: crate::resources::Dunning,
}

impl<'s> Tx<'s> {
    pub fn new(
        state: &'s mut State,
        now: i64,
        request_id: Option<&str>,
        idempotency_key: Option<&str>,
        configured_endpoint: bool,
        base_url: String,
    ) -> Tx<'s> {
        Tx {
            state,
            now,
            changed: Vec::new(),
            before: Vec::new(),
            events: Vec::new(),
            deliveries: Vec::new(),
            retries: Vec::new(),
            request: json!({ "id": request_id, "idempotency_key": idempotency_key }),
            configured_endpoint,
            base_url,
            dunning: crate::resources::Dunning::default(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.state.get(id)
    }

    /// The object `id` of kind `object`, or Stripe's 404 naming `param`.
    pub fn find(&self, object: &str, id: &str, param: &str) -> Result<Value, StripeError> {
        match self.state.get(id) {
            Some(found) if found["object"] == object && found.get("deleted").is_none() => {
                Ok(found.clone())
            }
            _ => Err(StripeError::no_such(
                &object.replace(['_', '.'], " "),
                id,
                param,
            )),
        }
    }

    pub fn state(&self) -> &State {
        self.state
    }

    /// Stores an object, new or changed. A new object of a customer on a
    /// test clock is on that clock too, as at Stripe.
    pub fn put(&mut self, mut object: Value) {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        let kind = object["object"].as_str().unwrap_or_default().to_string();
        if !self.state.seq.contains_key(&id) {
            self.inherit_clock(&mut object);
            let seq = self.state.next_seq;
            self.state.next_seq += 1;
            self.state.seq.insert(id.clone(), seq);
            self.state.by_kind.entry(kind).or_default().push(id.clone());
        }
        let previous = self.state.objects.insert(id.clone(), object);
        if !self.changed.contains(&id) {
            self.changed.push(id);
            self.before.push(previous);
        }
    }

    /// Puts an object that has a `test_clock` field, and none yet, on its
    /// customer's clock.
    fn inherit_clock(&self, object: &mut Value) {
        if object.get("test_clock").is_some_and(Value::is_null)
            && let Some(clock) = object["customer"]
                .as_str()
                .and_then(|c| self.state.get(c))
                .map(|c| c["test_clock"].clone())
        {
            object["test_clock"] = clock;
        }
    }

    /// Emits an event about `object`: `previous` holds the old values of the
    /// fields an update changed.
    pub fn emit(&mut self, event_type: &str, object: &Value, previous: Option<Value>) {
        let mut shown = public_view(object);
        // The object as stored, which a new one's `put` may have put on its
        // customer's clock after the caller took its copy.
        self.inherit_clock(&mut shown);
        let mut data = Map::new();
        data.insert("object".into(), shown);
        if let Some(previous) = previous {
            data.insert("previous_attributes".into(), previous);
        }
        let id = random_id("evt_", 24);
        // Every enabled endpoint that listens to the type gets the event; its
        // `pending_webhooks` counts them down as they are delivered.
        let endpoints = self.endpoints_for(event_type);
        for endpoint in &endpoints {
            self.deliveries.push(SandboxDelivery {
                event_id: id.clone(),
                endpoint: endpoint.clone(),
                attempts: 0,
                delivered: false,
                last_error: None,
            });
        }
        let event = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": false,
            "pending_webhooks": endpoints.len(),
            "request": self.request,
            "type": event_type,
        });
        self.events
            .push(event["id"].as_str().unwrap_or_default().to_string());
        self.put(event);
    }

    /// The endpoints an event of `event_type` goes to: the configured one,
    /// if any, and every enabled endpoint whose `enabled_events` take it.
    fn endpoints_for(&self, event_type: &str) -> Vec<String> {
        let configured = self
            .configured_endpoint
            .then(|| CONFIGURED_ENDPOINT.to_string());
        let created = self
            .state
            .newest_first(crate::resources::WEBHOOK_ENDPOINT)
            .filter(|e| crate::resources::endpoint_takes(e, event_type))
            .filter_map(|e| e["id"].as_str().map(str::to_string));
        let mut endpoints: Vec<String> = configured.into_iter().chain(created).collect();
        // Oldest first, as they were created, so that deliveries start in a
        // steady order.
        endpoints[usize::from(self.configured_endpoint)..].reverse();
        endpoints
    }

    /// Records where a delivery stands after an attempt, and sets its
    /// event's `pending_webhooks` to the endpoints still owed it.
    pub fn record_delivery(&mut self, delivery: SandboxDelivery) {
        let Some(mut event) = self.state.get(&delivery.event_id).cloned() else {
            return;
        };
        let pending = self
            .state
            .deliveries_of(&delivery.event_id)
            .iter()
            .filter(|d| d.endpoint != delivery.endpoint && !d.delivered)
            .count()
            + usize::from(!delivery.delivered);
        if event["pending_webhooks"] != json!(pending) {
            event["pending_webhooks"] = json!(pending);
            self.put(event);
        }
        self.deliveries.push(delivery);
    }

    /// Stores an updated object and emits `event_type` with the old values of
    /// the top-level fields that changed.
    pub fn update(&mut self, before: &Value, after: Value, event_type: Option<&str>) {
        if let Some(event_type) = event_type {
            let previous = previous_attributes(before, &after);
            let changed = previous.as_object().is_some_and(|m| !m.is_empty());
            self.put(after.clone());
            if changed {
                self.emit(event_type, &after, Some(previous));
            }
        } else {
            self.put(after);
        }
    }

    /// Undoes every change of this transaction: objects it created are gone,
    /// objects it changed hold their old values, and its events are dropped.
    pub fn roll_back(&mut self) {
        for (id, previous) in self.changed.drain(..).zip(self.before.drain(..)).rev() {
            match previous {
                Some(value) => {
                    self.state.objects.insert(id, value);
                }
                None => {
                    if let Some(created) = self.state.objects.remove(&id) {
                        let kind = created["object"].as_str().unwrap_or_default();
                        if let Some(ids) = self.state.by_kind.get_mut(kind) {
                            ids.retain(|other| *other != id);
                        }
                    }
                    self.state.seq.remove(&id);
                }
            }
        }
        self.events.clear();
        self.deliveries.clear();
        self.retries.clear();
    }

    /// The changed objects, for the store.
    pub fn changes(&self) -> Vec<SandboxObject> {
        self.changed
            .iter()
            .filter_map(|id| {
                let data = self.state.objects.get(id)?;
                Some(SandboxObject {
                    id: id.clone(),
                    object: data["object"].as_str().unwrap_or_default().to_string(),
                    seq: *self.state.seq.get(id)?,
                    data: data.clone(),
                })
            })
            .collect()
    }
}

/// An object as the API shows it. The sandbox keeps some of its own fields
/// inside objects (`x_…`), and a session's line items, which Stripe shows only
/// when `line_items` is expanded.
pub fn public_view(object: &Value) -> Value {
    let mut shown = object.clone();
    if let Some(map) = shown.as_object_mut() {
        map.retain(|key, _| !key.starts_with("x_"));
        if map.get("object").is_some_and(|o| o == "checkout.session") {
            map.remove("line_items");
        }
    }
    shown
}

/// The old values of the top-level fields that differ between two versions.
pub fn previous_attributes(before: &Value, after: &Value) -> Value {
    let mut previous = Map::new();
    if let (Some(old), Some(new)) = (before.as_object(), after.as_object()) {
        for (key, new_value) in new {
            let old_value = old.get(key).unwrap_or(&Value::Null);
            if old_value != new_value && key != "updated" {
                previous.insert(key.clone(), old_value.clone());
            }
        }
    }
    Value::Object(previous)
}

/// Stripe's list envelope over `items` (newest first), paged by `limit`,
/// `starting_after` and `ending_before`.
pub fn list_page<'a>(
    items: impl Iterator<Item = &'a Value>,
    params: &Map<String, Value>,
    url: &str,
) -> Result<Value, StripeError> {
    let limit = match params.get("limit") {
        None | Some(Value::Null) => 10,
        Some(v) => {
            let n = v.as_i64().unwrap_or(0);
            if !(1..=100).contains(&n) {
                return Err(StripeError::invalid(
                    "limit",
                    "Invalid limit: must be between 1 and 100",
                ));
            }
            n as usize
        }
    };
    let created = CreatedRange::from_params(params)?;
    let items: Vec<&Value> = items
        .filter(|v| created.contains(v["created"].as_i64()))
        .collect();
    let cursor = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let position = |id: &str| items.iter().position(|v| v["id"] == id);
    let (start, end) = if let Some(after) = cursor("starting_after") {
        let at = position(after)
            .ok_or_else(|| StripeError::no_such("object", after, "starting_after"))?;
        (at + 1, (at + 1 + limit).min(items.len()))
    } else if let Some(before) = cursor("ending_before") {
        let at = position(before)
            .ok_or_else(|| StripeError::no_such("object", before, "ending_before"))?;
        (at.saturating_sub(limit), at)
    } else {
        (0, limit.min(items.len()))
    };
    let has_more = if cursor("ending_before").is_some() {
        start > 0
    } else {
        end < items.len()
    };
    Ok(json!({
        "object": "list",
        "data": items[start..end].iter().map(|v| (*v).clone()).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": url,
    }))
}

/// A list's `created` filter: a Unix time (`created=…`), or bounds
/// (`created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`).
#[derive(Default)]
struct CreatedRange {
    /// Inclusive bounds.
    from: Option<i64>,
    to: Option<i64>,
    /// A bound no time can meet (`created[gt]` at the last second there is).
    empty: bool,
}

impl CreatedRange {
    fn from_params(params: &Map<String, Value>) -> Result<CreatedRange, StripeError> {
        let time = |param: &str, value: &Value| {
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| {
                    StripeError::invalid(
                        param,
                        format!("Invalid integer: {param} must be a Unix time."),
                    )
                })
        };
        let mut range = CreatedRange::default();
        match params.get("created") {
            None => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::Object(bounds)) => {
                for (key, value) in bounds {
                    let param = format!("created[{key}]");
                    let at = time(&param, value)?;
                    match key.as_str() {
                        "gt" => range.starting(at.checked_add(1)),
                        "gte" => range.starting(Some(at)),
                        "lt" => range.ending(at.checked_sub(1)),
                        "lte" => range.ending(Some(at)),
                        _ => {
                            return Err(StripeError::invalid(
                                &param,
                                format!("Received unknown parameter: {param}. created takes gt, gte, lt and lte."),
                            )
                            .with_code("parameter_unknown"));
                        }
                    }
                }
            }
            Some(value) => {
                let at = time("created", value)?;
                range.starting(Some(at));
                range.ending(Some(at));
            }
        }
        Ok(range)
    }

    fn starting(&mut self, from: Option<i64>) {
        match from {
            Some(from) => self.from = Some(self.from.map_or(from, |f| f.max(from))),
            None => self.empty = true,
        }
    }

    fn ending(&mut self, to: Option<i64>) {
        match to {
            Some(to) => self.to = Some(self.to.map_or(to, |t| t.min(to))),
            None => self.empty = true,
        }
    }

    fn contains(&self, created: Option<i64>) -> bool {
        let unbounded = self.from.is_none() && self.to.is_none() && !self.empty;
        match created {
            None => unbounded,
            Some(at) => {
                !self.empty
                    && self.from.is_none_or(|from| at >= from)
                    && self.to.is_none_or(|to| at <= to)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_length() {
        let id = random_id("cus_", 14);
        assert!(id.starts_with("cus_"));
        assert_eq!(id.len(), 18);
        assert_ne!(random_id("cus_", 14), id);
    }

    #[test]
    fn previous_attributes_hold_old_values_of_changed_fields() {
        let before = json!({"status": "trialing", "metadata": {}, "same": 1});
        let after = json!({"status": "active", "metadata": {"a": "b"}, "same": 1});
        assert_eq!(
            previous_attributes(&before, &after),
            json!({"status": "trialing", "metadata": {}})
        );
    }

    #[test]
    fn lists_page_with_cursors() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": format!("x{i}")})).collect();
        let mut params = Map::new();
        params.insert("limit".into(), json!(2));
        let first = list_page(items.iter(), &params, "/v1/x").unwrap();
        assert_eq!(first["data"].as_array().unwrap().len(), 2);
        assert_eq!(first["has_more"], true);
        params.insert("starting_after".into(), json!("x3"));
        let last = list_page(items.iter(), &params, "/v1/x").unwrap();
        assert_eq!(last["data"], json!([{"id": "x4"}]));
        assert_eq!(last["has_more"], false);
        params.remove("starting_after");
        params.insert("ending_before".into(), json!("x2"));
        let back = list_page(items.iter(), &params, "/v1/x").unwrap();
        assert_eq!(back["data"], json!([{"id": "x0"}, {"id": "x1"}]));
        assert_eq!(back["has_more"], false);
        params.insert("limit".into(), json!(0));
        assert!(list_page(items.iter(), &params, "/v1/x").is_err());
    }

    #[test]
    fn lists_filter_by_creation_time() {
        let items: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("x{i}"), "created": 100 + i}))
            .collect();
        let ids = |created: Value| {
            let mut params = Map::new();
            params.insert("created".into(), created);
            list_page(items.iter(), &params, "/v1/x").map(|page| {
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(ids(json!("102")).unwrap(), ["x2"]);
        assert_eq!(
            ids(json!({"gte": "102", "lt": "104"})).unwrap(),
            ["x2", "x3"]
        );
        assert_eq!(ids(json!({"gt": "102", "lte": "103"})).unwrap(), ["x3"]);
        assert_eq!(
            ids(json!({"gt": "102", "gte": "100"})).unwrap(),
            ["x3", "x4"]
        );
        assert!(ids(json!({"gt": i64::MAX.to_string()})).unwrap().is_empty());
        assert!(ids(json!({"lt": i64::MIN.to_string()})).unwrap().is_empty());
        assert_eq!(ids(json!("")).unwrap().len(), 5);
        for bad in [
            json!("soon"),
            json!({"after": "1"}),
            json!({"gte": "x"}),
            json!([1]),
        ] {
            let error = ids(bad.clone()).unwrap_err();
            assert!(
                error
                    .param
                    .as_deref()
                    .is_some_and(|p| p.starts_with("created")),
                "{bad}"
            );
        }
    }
}
