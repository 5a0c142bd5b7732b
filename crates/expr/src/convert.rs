//! Values between JSON and Rhai: a run's context goes in once
//! ([`context_to_dynamic`]), results come out as JSON ([`to_json`]), and the
//! read-only shared maps that expressions read but cannot assign to.

use rhai::Dynamic;

use crate::EvalError;
use crate::error::friendly_type;

/// Converts JSON to a Rhai value (null becomes `()`; whole numbers that fit
/// become integers, the rest floats).
///
/// Written out rather than through `rhai::serde`, which goes through serde's
/// data model value by value: this is on every run's path (a Stripe event's
/// context is several kilobytes) and the direct walk is several times faster.
pub fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Converts a run's `context`. A Stripe event's object is in it twice, as
/// `event.object` and inside the event as Stripe sent it,
/// `event.raw.data.object` (see `inbox::event_context`); it is most of the
/// event, so when the two are equal it is converted once and both places
/// hold the same read-only shared value, which expressions read as any
/// other (and cannot assign to, as the rest of `context`).
pub fn context_to_dynamic(context: &serde_json::Value) -> Dynamic {
    let event = &context["event"];
    let object = &event["object"];
    let raw = &event["raw"];
    let data = &raw["data"];
    let (Some(context_fields), Some(event_fields), Some(raw_fields), Some(data_fields), true) = (
        context.as_object(),
        event.as_object(),
        raw.as_object(),
        data.as_object(),
        object.is_object() && object == &data["object"],
    ) else {
        return to_dynamic(context);
    };
    let object = read_only_shared(to_dynamic(object));
    let mut data = convert_fields_except(data_fields, &["object"]);
    data.insert("object".into(), object.clone());
    let mut raw = convert_fields_except(raw_fields, &["data"]);
    raw.insert("data".into(), Dynamic::from_map(data));
    let mut event = convert_fields_except(event_fields, &["object", "raw"]);
    event.insert("object".into(), object);
    event.insert("raw".into(), Dynamic::from_map(raw));
    let mut context = convert_fields_except(context_fields, &["event"]);
    context.insert("event".into(), Dynamic::from_map(event));
    Dynamic::from_map(context)
}

fn convert_fields_except(
    fields: &serde_json::Map<String, serde_json::Value>,
    skipped: &[&str],
) -> rhai::Map {
    fields
        .iter()
        .filter(|(k, _)| !skipped.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
        .collect()
}

/// Makes `value` a shared value that expressions can read but not assign to.
/// The runner keeps a clone of the handle to update it (e.g. `steps`).
pub fn read_only_shared(value: Dynamic) -> Dynamic {
    value.into_read_only().into_shared()
}

/// Sets `key` in a map made by [`read_only_shared`], keeping it read-only to
/// expressions (writing through a typed lock would drop that mark).
pub fn insert_into_read_only(handle: &mut Dynamic, key: &str, value: Dynamic) {
    if let Some(mut inner) = handle.write_lock::<Dynamic>() {
        let mut map = std::mem::take(&mut *inner)
            .try_cast::<rhai::Map>()
            .unwrap_or_default();
        map.insert(key.into(), value);
        *inner = Dynamic::from_map(map).into_read_only();
    }
}

/// Converts a Rhai value to JSON; values JSON cannot hold are an error.
pub fn to_json(value: &Dynamic) -> Result<serde_json::Value, EvalError> {
    use serde_json::Value;
    if value.is_shared() {
        return to_json(&value.flatten_clone());
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| {
                EvalError::failed(format!(
                    "the expression gave {f}, which is not a number JSON can hold"
                ))
            });
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
        return Ok(Value::String(text.to_string()));
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        return items
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(fields) = value.read_lock::<rhai::Map>() {
        return fields
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object);
    }
    if let Some(bytes) = value.read_lock::<rhai::Blob>() {
        return Ok(Value::Array(
            bytes.iter().map(|b| Value::from(*b)).collect(),
        ));
    }
    Err(EvalError::failed(format!(
        "the expression gave a value that is not plain data ({})",
        friendly_type(value.type_name())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Evaluator, ExprLimits};
    use rhai::Scope;
    use serde_json::json;

    #[test]
    fn an_event_s_object_converted_once_reads_at_both_places_and_stays_read_only() {
        let object =
            json!({"id": "cs_1", "amount_total": 1250, "lines": [1, 2], "status": "complete"});
        let context = json!({
            "parameters": {},
            "event": {
                "id": "evt_1",
                "object": object,
                "raw": {"id": "evt_1", "data": {"object": object, "previous_attributes": {"a": 1}}},
            }
        });
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut scope = Scope::new();
        scope.push_constant_dynamic("context", read_only_shared(context_to_dynamic(&context)));
        let eval = |source: &str, scope: &mut Scope<'static>| {
            let expr = evaluator.compile(source, &["context"]).unwrap();
            evaluator.eval_json(&expr, scope)
        };
        for (source, expected) in [
            ("context.event.object.amount_total / 100", json!(12)),
            ("context.event.raw.data.object.id", json!("cs_1")),
            ("context.event.raw.data.previous_attributes.a", json!(1)),
            ("context.event.object[\"status\"]", json!("complete")),
            ("context.event.object.keys().len()", json!(4)),
            ("\"lines\" in context.event.object", json!(true)),
            ("context.event.object.lines[1]", json!(2)),
            // A copy taken with `let` is the expression's own to change.
            ("let o = context.event.object; o.id = 5; o.id", json!(5)),
            ("context.event.object.id", json!("cs_1")),
            ("context", context.clone()),
        ] {
            assert_eq!(eval(source, &mut scope).unwrap(), expected, "{source}");
        }
        for source in [
            "context.event.object.id = 5",
            "context.event.raw.data.object.amount_total += 1",
            "context.event.object.lines.push(3)",
            "context.event.object.lines[0] = 9",
        ] {
            let error = eval(source, &mut scope).unwrap_err();
            assert!(error.message.contains("constant"), "{source}: {error:?}");
        }
        assert_eq!(
            eval("context.event.object.id", &mut scope).unwrap(),
            json!("cs_1")
        );
        // Contexts without the pair, or where the two differ, convert as any value.
        for other in [
            json!({"parameters": {"a": 1}}),
            json!({"event": {"object": {"id": 1}, "raw": {"data": {"object": {"id": 2}}}}}),
        ] {
            assert_eq!(to_json(&context_to_dynamic(&other)).unwrap(), other);
        }
    }

    #[test]
    fn json_goes_to_rhai_and_back_unchanged() {
        let value = json!({
            "id": "cs_1", "amount": 1250, "rate": 0.5, "paid": true, "note": null,
            "big": 18446744073709551615u64, "lines": [{"q": 2}, "x", [], {}], "empty": {}
        });
        let back = to_json(&to_dynamic(&value)).unwrap();
        // u64 beyond i64 becomes a float, as in JavaScript; the rest is exact.
        assert_eq!(back["big"], json!(18446744073709551615u64 as f64));
        let mut expected = value.clone();
        expected["big"] = back["big"].clone();
        assert_eq!(back, expected);
        let shared = read_only_shared(to_dynamic(&value));
        assert_eq!(to_json(&shared).unwrap(), expected);
    }

    #[test]
    fn values_json_cannot_hold_are_named() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut scope = Scope::new();
        for (source, why) in [
            ("1.0 / 0.0", "not a number JSON can hold"),
            ("|x| x + 1", "not plain data"),
        ] {
            let expr = evaluator.compile(source, &[]).unwrap();
            let e = evaluator.eval_json(&expr, &mut scope).unwrap_err();
            assert!(e.message.contains(why), "{source}: {}", e.message);
        }
        let chars = evaluator.compile("'a'", &[]).unwrap();
        assert_eq!(evaluator.eval_json(&chars, &mut scope).unwrap(), json!("a"));
    }

    #[test]
    fn read_only_maps_refuse_assignment_after_the_runner_writes() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut vars = read_only_shared(Dynamic::from_map(rhai::Map::new()));
        insert_into_read_only(&mut vars, "x", Dynamic::from(1_i64));
        let mut scope = Scope::new();
        scope.push_constant_dynamic("vars", vars.clone());
        // Rhai protects the values a read-only map holds (deeply) and the
        // variable itself; it does not stop a script adding a new key, which
        // then lives only in this run and cannot change anything recorded.
        for source in ["vars.x = 5", "vars.x += 1", "vars = 1"] {
            let expr = evaluator.compile(source, &["vars"]).unwrap();
            assert!(
                evaluator.eval(&expr, &mut scope).is_err(),
                "{source} was allowed"
            );
        }
        let read = evaluator.compile("vars.x + 1", &["vars"]).unwrap();
        assert_eq!(evaluator.eval_json(&read, &mut scope).unwrap(), json!(2));
    }
}
