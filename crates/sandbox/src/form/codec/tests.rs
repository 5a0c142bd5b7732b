//! Unit tests of the form codec: decoding, its limits, and encoding.

use super::*;
use serde_json::json;

fn decoded(input: &str) -> Value {
    match decode(input.as_bytes()) {
        Ok(map) => Value::Object(map),
        Err(error) => panic!("decode({input:?}) failed: {error}"),
    }
}

/// The error decoding `input` fails with; the parameter checks' tests use it
/// too.
pub(crate) fn decode_error(input: &str) -> FormError {
    match decode(input.as_bytes()) {
        Ok(map) => panic!("decode({input:?}) succeeded: {map:?}"),
        Err(error) => error,
    }
}

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

// --- decode -----------------------------------------------------------

#[test]
fn decodes_flat_parameters() {
    assert_eq!(
        decoded("mode=payment&currency=usd"),
        json!({"mode": "payment", "currency": "usd"})
    );
    assert_eq!(decoded(""), json!({}));
    assert_eq!(decoded("&&a=1&"), json!({"a": "1"}));
}

#[test]
fn decodes_nested_objects() {
    assert_eq!(
        decoded("metadata[order_id]=42&recurring[interval]=month&recurring[interval_count]=3"),
        json!({
            "metadata": {"order_id": "42"},
            "recurring": {"interval": "month", "interval_count": "3"}
        })
    );
    assert_eq!(
        decoded("a[b][c][d]=deep"),
        json!({"a": {"b": {"c": {"d": "deep"}}}})
    );
}

#[test]
fn decodes_lists_of_objects() {
    assert_eq!(
        decoded(
            "line_items[0][price]=p&line_items[0][quantity]=2\
             &line_items[1][price_data][currency]=usd\
             &line_items[1][price_data][product_data][name]=T-shirt\
             &line_items[1][quantity]=1"
        ),
        json!({"line_items": [
            {"price": "p", "quantity": "2"},
            {"price_data": {"currency": "usd", "product_data": {"name": "T-shirt"}}, "quantity": "1"}
        ]})
    );
}

#[test]
fn decodes_indexed_and_appended_arrays() {
    assert_eq!(
        decoded("expand[]=data.customer&expand[]=x&payment_method_types[0]=card"),
        json!({"expand": ["data.customer", "x"], "payment_method_types": ["card"]})
    );
    assert_eq!(decoded("a[0][0]=x&a[0][1]=y"), json!({"a": [["x", "y"]]}));
}

#[test]
fn orders_indexes_and_closes_gaps() {
    assert_eq!(
        decoded("a[10]=c&a[2]=b&a[0]=a&a[007]=between"),
        json!({"a": ["a", "b", "between", "c"]})
    );
    assert_eq!(
        decoded("line_items[5][price]=second&line_items[3][price]=first"),
        json!({"line_items": [{"price": "first"}, {"price": "second"}]})
    );
}

#[test]
fn appended_objects_group_fields_like_rack() {
    assert_eq!(
        decoded("items[][price]=a&items[][quantity]=1&items[][price]=b&items[][quantity]=2"),
        json!({"items": [{"price": "a", "quantity": "1"}, {"price": "b", "quantity": "2"}]})
    );
    assert_eq!(
        decoded("items[][tags][]=x&items[][tags][]=y&items[][name]=n"),
        json!({"items": [{"tags": ["x", "y"], "name": "n"}]})
    );
}

#[test]
fn keeps_empty_values_as_empty_strings() {
    assert_eq!(
        decoded("description=&metadata[k]=&flag&expand[]="),
        json!({"description": "", "metadata": {"k": ""}, "flag": "", "expand": [""]})
    );
    assert_eq!(decoded("metadata="), json!({"metadata": ""}));
}

#[test]
fn decodes_percent_escapes_and_plus() {
    assert_eq!(
        decoded("metadata%5Bk%5D=a%20b&description=two+words&note=1%2B1%3D2%26more"),
        json!({"metadata": {"k": "a b"}, "description": "two words", "note": "1+1=2&more"})
    );
    assert_eq!(
        decoded(
            "metadata[caf%C3%A9]=cr%C3%A8me&success_url=https%3A%2F%2Fx.test%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
        ),
        json!({
            "metadata": {"café": "crème"},
            "success_url": "https://x.test/ok?s={CHECKOUT_SESSION_ID}"
        })
    );
    // Invalid UTF-8 is replaced, not refused.
    assert_eq!(decoded("a=%FF"), json!({"a": "\u{FFFD}"}));
}

#[test]
fn metadata_keys_are_never_array_indexes() {
    assert_eq!(
        decoded("metadata[2024]=year&metadata[0]=zero&payment_intent_data[metadata][7]=x"),
        json!({
            "metadata": {"2024": "year", "0": "zero"},
            "payment_intent_data": {"metadata": {"7": "x"}}
        })
    );
    assert_eq!(decoded("metadata[]=x"), json!({"metadata": {"": "x"}}));
    assert_eq!(
        decoded("metadata[0]=x&metadata[b]=y"),
        json!({"metadata": {"0": "x", "b": "y"}})
    );
}

#[test]
fn repeated_plain_key_keeps_last_value() {
    assert_eq!(decoded("a=1&a=2"), json!({"a": "2"}));
    assert_eq!(decoded("a[0]=1&a[0]=2"), json!({"a": ["2"]}));
}

#[test]
fn refuses_conflicting_shapes_naming_the_parameter() {
    let cases = [
        ("a=1&a[b]=2", "a", Shape::Value, Shape::Hash),
        ("a[b]=2&a=1", "a", Shape::Hash, Shape::Value),
        ("a[0]=x&a[b]=y", "a", Shape::IndexedArray, Shape::Hash),
        (
            "a[0]=x&a[]=y",
            "a",
            Shape::IndexedArray,
            Shape::AppendedArray,
        ),
        (
            "a[]=x&a[0]=y",
            "a",
            Shape::AppendedArray,
            Shape::IndexedArray,
        ),
        (
            "line_items[0][price]=p&line_items[0][price][id]=1",
            "line_items[0][price]",
            Shape::Value,
            Shape::Hash,
        ),
        (
            "line_items[0][price_data][currency]=usd&line_items[0][price_data]=x",
            "line_items[0][price_data]",
            Shape::Hash,
            Shape::Value,
        ),
    ];
    for (input, param, first, then) in cases {
        let expected = FormError::Conflict {
            param: param.to_owned(),
            first,
            then,
        };
        assert_eq!(decode_error(input), expected, "{input}");
    }
    assert_eq!(
        decode_error("a=1&a[b]=2").to_string(),
        "Invalid parameter a: given as a value and as a hash"
    );
}

#[test]
fn refuses_malformed_brackets() {
    for key in [
        "a[b", "a]", "a[b]c", "[a]", "a[b[c]]", "a[b]]", "a[b][", "a]b[",
    ] {
        let input = format!("{key}=1");
        assert_eq!(
            decode_error(&input),
            FormError::Malformed {
                key: key.to_owned()
            },
            "{input}"
        );
    }
    assert_eq!(
        decode_error("=orphan"),
        FormError::Malformed { key: String::new() }
    );
    assert_eq!(
        decode_error("a[b=1").to_string(),
        "Invalid parameter name: a[b"
    );
}

#[test]
fn refuses_hostile_depth() {
    let at_limit = format!("a{}=x", "[b]".repeat(MAX_DEPTH));
    assert!(decode(at_limit.as_bytes()).is_ok());
    let too_deep = format!("a{}=x", "[b]".repeat(MAX_DEPTH + 1));
    let expected = format!("a{}", "[b]".repeat(MAX_DEPTH + 1));
    assert_eq!(
        decode_error(&too_deep),
        FormError::TooDeep {
            param: expected.clone()
        }
    );
    assert_eq!(
        decode_error(&too_deep).to_string(),
        format!("Invalid parameter name: {expected}... is nested more than 10 levels deep")
    );
    // The error names only the first levels of a hostile key.
    let hostile = format!("a{}=x", "[0]".repeat(100_000));
    assert_eq!(
        decode_error(&hostile),
        FormError::TooDeep {
            param: format!("a{}", "[0]".repeat(MAX_DEPTH + 1))
        }
    );
    let brackets = format!("a{}=x", "[".repeat(100_000));
    assert!(matches!(
        decode(brackets.as_bytes()),
        Err(FormError::Malformed { .. })
    ));
}

#[test]
fn refuses_hostile_indexes() {
    assert!(decode(format!("a[{MAX_INDEX}]=x").as_bytes()).is_ok());
    assert_eq!(
        decode_error(&format!("line_items[0][tax_rates][{}]=x", MAX_INDEX + 1)),
        FormError::IndexTooLarge {
            param: format!("line_items[0][tax_rates][{}]", MAX_INDEX + 1)
        }
    );
    assert!(matches!(
        decode(b"a[99999999999999999999999999999]=x"),
        Err(FormError::IndexTooLarge { .. })
    ));
    let fill = "a[]=x&".repeat(MAX_INDEX + 1);
    assert_eq!(
        decoded(&fill)["a"].as_array().map(Vec::len),
        Some(MAX_INDEX + 1)
    );
    assert_eq!(
        decode_error(&format!("{fill}a[]=one-too-many")),
        FormError::IndexTooLarge {
            param: "a[]".to_owned()
        }
    );
}

#[test]
fn refuses_a_body_that_builds_too_much() {
    // Distinct keys ten levels deep build eleven nodes each.
    let deep = |n: usize| format!("k{n}{}=", "[b]".repeat(MAX_DEPTH));
    let fit = MAX_NODES / (MAX_DEPTH + 1);
    let body: Vec<String> = (0..fit).map(deep).collect();
    assert!(decode(body.join("&").as_bytes()).is_ok());
    let body: Vec<String> = (0..=fit).map(deep).collect();
    assert_eq!(
        decode_error(&body.join("&")),
        FormError::TooMany {
            param: format!("k{fit}{}", "[b]".repeat(MAX_DEPTH))
        }
    );
    // Levels that keys share are built once: `a` and `a[b]`, then a value
    // per key.
    let shared: Vec<String> = (0..MAX_NODES - 2)
        .map(|n| format!("a[b][c{n}]=x"))
        .collect();
    assert!(decode(shared.join("&").as_bytes()).is_ok());
    let one_more = format!("{}&a[b][last]=x", shared.join("&"));
    assert_eq!(
        decode_error(&one_more).to_string(),
        format!(
            "Invalid parameter a[b][last]: the request holds more than {MAX_NODES} values, hashes and arrays"
        )
    );
}

/// A small deterministic generator, so the garbage tests need no crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn garbage_never_panics_and_decoded_output_round_trips() {
    const PIECES: &[&str] = &[
        "a", "b", "metadata", "0", "1", "12", "[", "]", "[]", "[0]", "[1]", "[x]", "=", "&", "%",
        "%5B", "%5D", "%2", "+", "%FF", "é", "10001",
    ];
    let mut rng = Lcg(7);
    let mut decoded_ok = 0;
    for _ in 0..20_000 {
        let len = rng.below(12);
        let input: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        if let Ok(map) = decode(input.as_bytes()) {
            decoded_ok += 1;
            let again = decode(encode(&map).as_bytes());
            assert_eq!(again.as_ref(), Ok(&map), "{input}");
        }
    }
    assert!(decoded_ok > 1_000, "only {decoded_ok} inputs decoded");
}

// --- encode -----------------------------------------------------------

#[test]
fn encodes_nested_values_with_percent_encoding() {
    let params = object(json!({
        "amount": 2000,
        "capture": false,
        "description": "a b&c=d+e",
        "metadata": {"k": "v"},
        "expand": ["customer"],
        "coupon": null,
    }));
    assert_eq!(
        encode(&params),
        "amount=2000&capture=false&coupon=&description=a+b%26c%3Dd%2Be\
         &expand%5B0%5D=customer&metadata%5Bk%5D=v"
    );
}

#[test]
fn encodes_empty_containers_as_unset() {
    let params = object(json!({"metadata": {}, "items": []}));
    assert_eq!(encode(&params), "items=&metadata=");
}

/// A checkout session using most of Stripe's shapes, already typed; the
/// parameter checks' tests type its encoded form back into it.
pub(crate) fn checkout_session() -> Map<String, Value> {
    object(json!({
        "mode": "subscription",
        "success_url": "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cart",
        "customer_email": "jo+test@example.com",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1999,
                    "product_data": {"name": "Café crème & croissant"},
                    "recurring": {"interval": "month"}
                },
                "quantity": 2
            },
            {"price": "price_123", "quantity": 1, "adjustable_quantity": {"enabled": true}}
        ],
        "metadata": {"order_id": "42", "note": "50% off = deal", "2024": "year"},
        "payment_method_types": ["card", "sepa_debit"],
        "payment_intent_data": {"metadata": {"source": "web"}},
        "subscription_data": {"trial_period_days": 14, "metadata": {"plan": "pro"}},
        "allow_promotion_codes": false,
        "expand": ["line_items", "customer"]
    }))
}

fn stringify_leaves(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), stringify_leaves(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(stringify_leaves).collect()),
        Value::String(text) => Value::String(text.clone()),
        Value::Null => Value::String(String::new()),
        other => Value::String(other.to_string()),
    }
}

#[test]
fn checkout_session_round_trips() {
    let session = checkout_session();
    let body = encode(&session);
    assert!(body.contains(
        "success_url=https%3A%2F%2Fshop.example%2Fsuccess%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D"
    ));
    assert!(body.contains("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1999"));
    assert_eq!(
        decode(body.as_bytes()).map(Value::Object),
        Ok(stringify_leaves(&Value::Object(session)))
    );
}
