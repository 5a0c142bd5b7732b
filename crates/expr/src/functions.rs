//! The functions builders call from expressions, beyond Rhai's own.

use chrono::{DateTime, SecondsFormat, Utc};
use rhai::{Dynamic, Engine, EvalAltResult, Position};

type FnResult<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: String) -> FnResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        message.into(),
        Position::NONE,
    )))
}

/// Currencies without a minor unit: Stripe takes their amounts as whole units.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

fn minor_units_per_major(currency: &str) -> i64 {
    if ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str()) {
        1
    } else {
        100
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("now", || {
        Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
    });
    engine.register_fn("unix_now", || Utc::now().timestamp());
    engine.register_fn("uuid", || uuid::Uuid::new_v4().to_string());
    engine.register_fn("from_unix", |seconds: i64| -> FnResult<String> {
        match DateTime::<Utc>::from_timestamp(seconds, 0) {
            Some(t) => Ok(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => fail(format!("from_unix: {seconds} is not a time")),
        }
    });
    engine.register_fn("to_unix", |text: &str| -> FnResult<i64> {
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Ok(t.timestamp()),
            Err(_) => fail(format!(
                "to_unix: `{text}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z"
            )),
        }
    });
    // Stripe's amounts are integers in the currency's smallest unit.
    engine.register_fn("to_major_units", |amount: i64, currency: &str| -> f64 {
        amount as f64 / minor_units_per_major(currency) as f64
    });
    // Out of range is an error, never a clamp: a wrong amount must not be
    // charged quietly.
    engine.register_fn(
        "to_minor_units",
        |amount: f64, currency: &str| -> FnResult<i64> {
            let minor = (amount * minor_units_per_major(currency) as f64).round();
            if minor.is_finite() && (-9.2e18..9.2e18).contains(&minor) {
                Ok(minor as i64)
            } else {
                fail(format!(
                    "to_minor_units: {amount} {currency} is out of range"
                ))
            }
        },
    );
    engine.register_fn(
        "to_minor_units",
        |amount: i64, currency: &str| -> FnResult<i64> {
            match amount.checked_mul(minor_units_per_major(currency)) {
                Some(minor) => Ok(minor),
                None => fail(format!(
                    "to_minor_units: {amount} {currency} is out of range"
                )),
            }
        },
    );
    engine.register_fn("format_amount", |amount: i64, currency: &str| -> String {
        let code = currency.to_ascii_uppercase();
        let per = minor_units_per_major(currency);
        if per == 1 {
            return format!("{amount} {code}");
        }
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        format!("{sign}{}.{:02} {code}", abs / 100, abs % 100)
    });
    engine.register_fn("to_json", |value: Dynamic| -> FnResult<String> {
        match super::to_json(&value) {
            Ok(json) => Ok(json.to_string()),
            Err(e) => fail(e.message),
        }
    });
    engine.register_fn("parse_json", |text: &str| -> FnResult<Dynamic> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) => Ok(super::to_dynamic(&json)),
            Err(e) => fail(format!("parse_json: not valid JSON: {e}")),
        }
    });
    engine.register_fn("is_blank", |value: Dynamic| -> bool {
        if value.is_unit() {
            return true;
        }
        if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
            return s.trim().is_empty();
        }
        if let Some(a) = value.read_lock::<rhai::Array>() {
            return a.is_empty();
        }
        if let Some(m) = value.read_lock::<rhai::Map>() {
            return m.is_empty();
        }
        false
    });
}

#[cfg(test)]
mod tests {
    use crate::{Evaluator, ExprLimits};
    use rhai::Scope;
    use serde_json::json;

    fn eval(source: &str) -> serde_json::Value {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator.compile(source, &[]).unwrap();
        evaluator.eval_json(&expr, &mut Scope::new()).unwrap()
    }

    #[test]
    fn money_helpers_know_zero_decimal_currencies() {
        assert_eq!(eval("format_amount(123456, \"usd\")"), json!("1234.56 USD"));
        assert_eq!(eval("format_amount(-5, \"eur\")"), json!("-0.05 EUR"));
        assert_eq!(eval("format_amount(500, \"jpy\")"), json!("500 JPY"));
        assert_eq!(eval("to_major_units(1999, \"usd\")"), json!(19.99));
        assert_eq!(eval("to_minor_units(19.99, \"usd\")"), json!(1999));
        assert_eq!(eval("to_minor_units(500, \"jpy\")"), json!(500));
    }

    #[test]
    fn arithmetic_that_overflows_is_an_error_never_a_wrap_or_a_clamp() {
        let evaluator = Evaluator::new(ExprLimits::default());
        for source in [
            "9223372036854775807 + 1",
            "9223372036854775807 * 2",
            "-9223372036854775807 - 2",
            "to_minor_units(9223372036854775807, \"usd\")",
            "to_minor_units(1e300, \"usd\")",
        ] {
            let expr = evaluator.compile(source, &[]).unwrap();
            let e = evaluator.eval_json(&expr, &mut Scope::new()).unwrap_err();
            assert!(!e.message.is_empty(), "{source}");
        }
    }

    #[test]
    fn time_helpers_round_trip() {
        assert_eq!(eval("from_unix(0)"), json!("1970-01-01T00:00:00Z"));
        assert_eq!(eval("to_unix(\"1970-01-02T00:00:00Z\")"), json!(86400));
        assert!(eval("now()").as_str().unwrap().ends_with('Z'));
        assert!(eval("unix_now()").as_i64().unwrap() > 1_700_000_000);
    }

    #[test]
    fn json_helpers_and_blanks() {
        assert_eq!(
            eval("parse_json(\"{\\\"a\\\": [1, null]}\").a[0]"),
            json!(1)
        );
        assert_eq!(eval("to_json(#{a: 1})"), json!("{\"a\":1}"));
        assert_eq!(
            eval("[is_blank(()), is_blank(\" \"), is_blank([]), is_blank(0)]"),
            json!([true, true, true, false])
        );
        assert_eq!(eval("uuid().len()"), json!(36));
    }
}
