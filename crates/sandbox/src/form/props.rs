//! Property tests of the sandbox's form decoder and parameter checks: bodies
//! anyone can send (random keys with brackets, deep nesting, huge indexes,
//! percent-escapes, invalid UTF-8) never panic, and what they decode to stays
//! within the decoder's limits.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::codec::{FormError, MAX_DEPTH, MAX_INDEX, MAX_NODES, decode, encode};
use super::params::{EXPAND, Kind, Param, check};

static ITEM: &[Param] = &[
    Param::optional("price", Kind::String),
    Param::required("quantity", Kind::Integer),
    Param::optional("metadata", Kind::Metadata),
];

/// A spec with a parameter of every kind, named as the generated keys are.
static SPEC: &[Param] = &[
    Param::optional("a", Kind::Any),
    Param::optional("amount", Kind::Integer),
    Param::optional("flag", Kind::Boolean),
    Param::optional("at", Kind::Timestamp),
    Param::optional("mode", Kind::Enum(&["payment", "setup"])),
    Param::optional("metadata", Kind::Metadata),
    Param::optional("item", Kind::Object(ITEM)),
    Param::optional("items", Kind::ObjectList(ITEM)),
    EXPAND,
];

const NAMES: &[&str] = &[
    "a", "amount", "flag", "at", "mode", "metadata", "item", "items", "expand", "price", "quantity",
];

/// A bracket segment, mostly well formed.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("[]".to_owned()),
        4 => (0..3usize).prop_map(|index| format!("[{index}]")),
        1 => (0..=MAX_INDEX + 2).prop_map(|index| format!("[{index}]")),
        1 => "[0-9]{5,30}".prop_map(|digits| format!("[{digits}]")),
        6 => proptest::sample::select(NAMES).prop_map(|name| format!("[{name}]")),
        2 => "[a-z%0-9]{0,6}".prop_map(|name| format!("[{name}]")),
        1 => Just("%5B0%5D".to_owned()),
        1 => Just("[".to_owned()),
        1 => Just("]".to_owned()),
    ]
}

/// A key: a name (rarely none) and a few segments, sometimes a dozen.
fn key() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        8 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-z%+]{0,4}",
    ];
    let segments = prop_oneof![
        8 => proptest::collection::vec(segment(), 0..4),
        1 => proptest::collection::vec(segment(), 0..12),
    ];
    (name, segments).prop_map(|(name, segments)| format!("{name}{}", segments.concat()))
}

/// A value with percent-escapes, `+` and bytes that are not UTF-8.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z0-9 ]{0,5}".prop_map(String::into_bytes),
        Just(b"%FF".to_vec()),
        Just(b"%2".to_vec()),
        Just(b"%C3%A9".to_vec()),
        Just(b"+".to_vec()),
        Just(vec![0xff, 0xfe]),
        Just("é".as_bytes().to_vec()),
        Just(b"=".to_vec()),
    ];
    proptest::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

/// A body of bracketed keys and odd values.
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((key(), value()), 0..10).prop_map(|pairs| {
        let mut body = Vec::new();
        for (index, (key, value)) in pairs.into_iter().enumerate() {
            if index > 0 {
                body.push(b'&');
            }
            body.extend_from_slice(key.as_bytes());
            body.push(b'=');
            body.extend_from_slice(&value);
        }
        body
    })
}

/// The number of values, objects and arrays in `value`, its nesting depth,
/// and its longest array.
fn size(value: &Value) -> (usize, usize, usize) {
    let children: Vec<&Value> = match value {
        Value::Object(entries) => entries.values().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    let longest = match value {
        Value::Array(items) => items.len(),
        _ => 0,
    };
    children
        .into_iter()
        .map(size)
        .fold((1, 1, longest), |(nodes, depth, longest), child| {
            (
                nodes + child.0,
                depth.max(child.1 + 1),
                longest.max(child.2),
            )
        })
}

/// Checks what `body` decodes to against the limits, and runs the spec and
/// the encoder over it: none of which may panic.
fn decode_within_limits(body: &[u8]) -> Result<(), TestCaseError> {
    let Ok(decoded) = decode(body) else {
        return Ok(());
    };
    let (nodes, depth, longest) = size(&Value::Object(decoded.clone()));
    // The root object is not a parameter: one node and one level more.
    prop_assert!(nodes - 1 <= MAX_NODES, "{nodes} nodes");
    prop_assert!(depth - 1 <= MAX_DEPTH + 1, "{depth} levels");
    prop_assert!(longest <= MAX_INDEX + 1, "an array of {longest}");
    let _ = check(SPEC, &decoded);
    let again: Result<Map<String, Value>, FormError> = decode(encode(&decoded).as_bytes());
    prop_assert_eq!(again, Ok(decoded));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_within_limits(&bytes)?;
    }

    #[test]
    fn bracketed_bodies_never_panic_and_stay_within_the_limits(body in body()) {
        decode_within_limits(&body)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn deep_nesting_is_refused_past_the_limit(
        depth in 0..5_000usize,
        level in proptest::sample::select(vec!["[b]", "[0]", "[]", "[metadata]"]),
    ) {
        let body = format!("a{}=x", level.repeat(depth));
        match decode(body.as_bytes()) {
            Ok(_) => prop_assert!(depth <= MAX_DEPTH),
            Err(FormError::TooDeep { param }) => {
                prop_assert!(depth > MAX_DEPTH);
                // The error names the first levels only, however deep the key.
                prop_assert!(param.len() <= 1 + level.len() * (MAX_DEPTH + 1));
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn huge_indexes_are_refused(digits in "[0-9]{1,40}") {
        let body = format!("items[{digits}][price]=p");
        let index = digits.parse::<u128>().ok();
        match decode(body.as_bytes()) {
            Ok(_) => prop_assert!(index.is_some_and(|i| i <= MAX_INDEX as u128)),
            Err(FormError::IndexTooLarge { .. }) => {
                prop_assert!(index.is_none_or(|i| i > MAX_INDEX as u128));
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

}

proptest! {
    // Each case decodes thousands of keys, so a few cases do.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn many_deep_keys_stop_at_the_node_limit(
        keys in 1_000..4_000usize,
        depth in 1..=MAX_DEPTH,
    ) {
        let body: Vec<String> = (0..keys)
            .map(|n| format!("k{n}{}=v", "[b]".repeat(depth)))
            .collect();
        let built = keys * (depth + 1);
        match decode(body.join("&").as_bytes()) {
            Ok(decoded) => {
                prop_assert!(built <= MAX_NODES);
                prop_assert_eq!(decoded.len(), keys);
            }
            Err(FormError::TooMany { .. }) => prop_assert!(built > MAX_NODES),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
