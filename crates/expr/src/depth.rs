//! The one nesting limit of the JSON that paywire accepts from outside, and
//! the scan that enforces it before anything is parsed.

/// How deep a JSON value that paywire accepts from outside (an API's body,
/// a webhook event) may nest: objects and arrays inside each other, the
/// outermost counted. Stripe's deepest events nest about a dozen levels;
/// what a run's context wraps around a body or an event stays well inside
/// the parser's and the converters' own limits, so whatever is accepted can
/// also run.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether the JSON text `bytes` nests deeper than [`MAX_JSON_DEPTH`]. A scan
/// of the bytes that stops at the first level too deep, so that refusing a
/// hostile body costs less than parsing it.
pub fn json_too_deep(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_is_counted_outside_strings() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!json_too_deep(nest(MAX_JSON_DEPTH).as_bytes()));
        assert!(json_too_deep(nest(MAX_JSON_DEPTH + 1).as_bytes()));
        let quoted = format!(r#"{{"a": "{}", "b": "\\\" [[["}}"#, "[".repeat(500));
        assert!(!json_too_deep(quoted.as_bytes()), "{quoted}");
        assert!(!json_too_deep(b"{\"a\": [1, {\"b\": []}]}"));
    }
}
