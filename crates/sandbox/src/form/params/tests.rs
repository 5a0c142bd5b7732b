//! Unit tests of the parameter checks against a spec.

use serde_json::json;

use super::*;
use crate::form::codec::tests::{checkout_session, decode_error, object};
use crate::form::codec::{decode, encode};

static PRODUCT_DATA: &[Param] = &[
    Param::required("name", Kind::String),
    Param::optional("metadata", Kind::Metadata),
];
static RECURRING: &[Param] = &[
    Param::required("interval", Kind::Enum(&["day", "week", "month", "year"])),
    Param::optional("interval_count", Kind::Integer),
];
static PRICE_DATA: &[Param] = &[
    Param::required("currency", Kind::String),
    Param::optional("unit_amount", Kind::Integer),
    Param::optional("product_data", Kind::Object(PRODUCT_DATA)),
    Param::optional("recurring", Kind::Object(RECURRING)),
];
static ADJUSTABLE_QUANTITY: &[Param] = &[Param::required("enabled", Kind::Boolean)];
static LINE_ITEM: &[Param] = &[
    Param::optional("price", Kind::String),
    Param::optional("price_data", Kind::Object(PRICE_DATA)),
    Param::optional("quantity", Kind::Integer),
    Param::optional("adjustable_quantity", Kind::Object(ADJUSTABLE_QUANTITY)),
    Param::optional("tax_rates", Kind::StringList),
];
static PAYMENT_INTENT_DATA: &[Param] = &[
    Param::optional("metadata", Kind::Metadata),
    Param::optional("capture_method", Kind::Enum(&["automatic", "manual"])),
];
static SUBSCRIPTION_DATA: &[Param] = &[
    Param::optional("trial_period_days", Kind::Integer),
    Param::optional("trial_end", Kind::Timestamp),
    Param::optional("metadata", Kind::Metadata),
];
static CREATE_SESSION: &[Param] = &[
    Param::required("mode", Kind::Enum(&["payment", "setup", "subscription"])),
    Param::required("success_url", Kind::String),
    Param::optional("cancel_url", Kind::String),
    Param::optional("customer_email", Kind::String),
    Param::optional("line_items", Kind::ObjectList(LINE_ITEM)),
    Param::optional("metadata", Kind::Metadata),
    Param::optional("payment_method_types", Kind::StringList),
    Param::optional("payment_intent_data", Kind::Object(PAYMENT_INTENT_DATA)),
    Param::optional("subscription_data", Kind::Object(SUBSCRIPTION_DATA)),
    Param::optional("allow_promotion_codes", Kind::Boolean),
    Param::optional("client_reference_id", Kind::String),
    Param::optional("custom", Kind::Any),
    EXPAND,
];
static CREATE_PRICE: &[Param] = &[
    Param::required("currency", Kind::String),
    Param::optional("unit_amount", Kind::Integer),
    Param::optional("active", Kind::Boolean),
    Param::optional("recurring", Kind::Object(RECURRING)),
    Param::optional("metadata", Kind::Metadata),
    EXPAND,
];

fn check_body(spec: &[Param], body: &str) -> Result<Value, ParamError> {
    let params = decode(body.as_bytes())?;
    check(spec, &params).map(Value::Object)
}

fn check_error(spec: &[Param], body: &str) -> ParamError {
    match check_body(spec, body) {
        Ok(value) => panic!("check of {body:?} succeeded: {value}"),
        Err(error) => error,
    }
}

fn error(param: &str, code: Option<&'static str>, message: &str) -> ParamError {
    ParamError {
        param: param.to_owned(),
        code,
        message: message.to_owned(),
    }
}

#[test]
fn types_a_whole_checkout_session() {
    let body = encode(&checkout_session());
    assert_eq!(
        check_body(CREATE_SESSION, &body),
        Ok(Value::Object(checkout_session()))
    );
}

#[test]
fn converts_leaves_in_nested_lists() {
    let body = "mode=payment&success_url=https://x.test\
                &line_items[0][price_data][currency]=usd\
                &line_items[0][price_data][unit_amount]=-250\
                &line_items[0][price_data][recurring][interval]=month\
                &line_items[0][price_data][recurring][interval_count]=3\
                &line_items[0][quantity]=2\
                &line_items[0][tax_rates][]=txr_1&line_items[0][tax_rates][]=txr_2\
                &line_items[1][price]=price_9&line_items[1][adjustable_quantity][enabled]=true\
                &subscription_data[trial_end]=1700000000\
                &allow_promotion_codes=false&expand[]=line_items\
                &custom[anything][0]=goes";
    assert_eq!(
        check_body(CREATE_SESSION, body),
        Ok(json!({
            "mode": "payment",
            "success_url": "https://x.test",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": -250,
                        "recurring": {"interval": "month", "interval_count": 3}
                    },
                    "quantity": 2,
                    "tax_rates": ["txr_1", "txr_2"]
                },
                {"price": "price_9", "adjustable_quantity": {"enabled": true}}
            ],
            "subscription_data": {"trial_end": 1_700_000_000},
            "allow_promotion_codes": false,
            "expand": ["line_items"],
            "custom": {"anything": ["goes"]}
        }))
    );
}

#[test]
fn keeps_empty_strings_of_optional_parameters_as_unset() {
    assert_eq!(
        check_body(
            CREATE_PRICE,
            "currency=usd&unit_amount=&active=&recurring=&metadata=&expand="
        ),
        Ok(json!({
            "currency": "usd",
            "unit_amount": "",
            "active": "",
            "recurring": "",
            "metadata": "",
            "expand": ""
        }))
    );
    assert_eq!(
        check_body(
            CREATE_PRICE,
            "currency=usd&metadata[gone]=&metadata[kept]=v"
        ),
        Ok(json!({"currency": "usd", "metadata": {"gone": "", "kept": "v"}}))
    );
}

#[test]
fn reports_unknown_parameters_with_full_path_and_hint() {
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[0][prise]=p"
        ),
        error(
            "line_items[0][prise]",
            Some("parameter_unknown"),
            "Received unknown parameter: line_items[0][prise]. Did you mean price?"
        )
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&colour=red"),
        error(
            "colour",
            Some("parameter_unknown"),
            "Received unknown parameter: colour"
        )
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&recurring[Interval]=month"),
        error(
            "recurring[Interval]",
            Some("parameter_unknown"),
            "Received unknown parameter: recurring[Interval]. Did you mean interval?"
        )
    );
    // Unknown parameters are reported before missing ones.
    assert_eq!(
        check_error(CREATE_PRICE, "typo=1").code,
        Some("parameter_unknown")
    );
}

#[test]
fn reports_missing_parameters() {
    assert_eq!(
        check_error(CREATE_PRICE, "unit_amount=5"),
        error(
            "currency",
            Some("parameter_missing"),
            "Missing required param: currency."
        )
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[0][price_data][unit_amount]=5"
        ),
        error(
            "line_items[0][price_data][currency]",
            Some("parameter_missing"),
            "Missing required param: line_items[0][price_data][currency]."
        )
    );
}

#[test]
fn reports_empty_required_parameters() {
    assert_eq!(
        check_error(CREATE_PRICE, "currency="),
        error(
            "currency",
            Some("parameter_invalid_empty"),
            "You passed an empty string for 'currency'. We assume empty values are an \
             attempt to unset a parameter; however 'currency' cannot be unset. You should \
             remove 'currency' from your request or supply a non-empty value."
        )
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[0][price_data][currency]=usd\
             &line_items[0][price_data][product_data][name]="
        )
        .param,
        "line_items[0][price_data][product_data][name]"
    );
}

#[test]
fn reports_invalid_integers() {
    for bad in [
        "abc",
        "1.5",
        "10.0",
        "1e3",
        "+1",
        " 1",
        "-",
        "99999999999999999999",
    ] {
        let body = format!("currency=usd&unit_amount={}", bad.replace('+', "%2B"));
        assert_eq!(
            check_error(CREATE_PRICE, &body),
            error(
                "unit_amount",
                Some("parameter_invalid_integer"),
                &format!("Invalid integer: {bad}")
            ),
            "{bad}"
        );
    }
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[0][quantity]=two"
        ),
        error(
            "line_items[0][quantity]",
            Some("parameter_invalid_integer"),
            "Invalid integer: two"
        )
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&subscription_data[trial_end]=tomorrow"
        )
        .message,
        "Invalid integer: tomorrow"
    );
}

#[test]
fn reports_invalid_booleans() {
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&active=True"),
        error("active", None, "Invalid boolean: True")
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[0][adjustable_quantity][enabled]=1"
        ),
        error(
            "line_items[0][adjustable_quantity][enabled]",
            None,
            "Invalid boolean: 1"
        )
    );
}

#[test]
fn reports_invalid_enum_values() {
    assert_eq!(
        check_error(CREATE_SESSION, "mode=paymnt&success_url=u"),
        error(
            "mode",
            None,
            "Invalid mode: must be one of payment, setup, or subscription"
        )
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&payment_intent_data[capture_method]=later"
        ),
        error(
            "payment_intent_data[capture_method]",
            None,
            "Invalid payment_intent_data[capture_method]: must be one of automatic or manual"
        )
    );
    assert_eq!(one_of(&["only"]), "only");
}

#[test]
fn reports_shape_errors() {
    assert_eq!(
        check_error(CREATE_SESSION, "mode=payment&success_url[foo]=bar"),
        error("success_url", None, r#"Invalid string: {"foo"=>"bar"}"#)
    );
    assert_eq!(
        check_error(CREATE_SESSION, "mode[0]=payment&success_url=u"),
        error("mode", None, r#"Invalid string: ["payment"]"#)
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&expand=customer"),
        error("expand", None, "Invalid array")
    );
    assert_eq!(
        check_error(
            CREATE_SESSION,
            "mode=payment&success_url=u&line_items[price]=p"
        ),
        error("line_items", None, "Invalid array")
    );
    assert_eq!(
        check_error(CREATE_SESSION, "mode=payment&success_url=u&line_items[0]=p"),
        error("line_items[0]", None, "Invalid hash")
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&recurring[0]=month"),
        error("recurring", None, "Invalid hash")
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&expand[0][a]=b"),
        error("expand[0]", None, r#"Invalid string: {"a"=>"b"}"#)
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&unit_amount[a]=1"),
        error(
            "unit_amount",
            Some("parameter_invalid_integer"),
            r#"Invalid integer: {"a"=>"1"}"#
        )
    );
}

#[test]
fn enforces_metadata_limits() {
    let many: String = (0..=METADATA_MAX_KEYS)
        .map(|i| format!("&metadata[k{i}]=v"))
        .collect();
    assert_eq!(
        check_error(CREATE_PRICE, &format!("currency=usd{many}")),
        error(
            "metadata",
            None,
            "Metadata can have up to 50 keys, but you've set 51. \
             Email us at support+metadata@stripe.com for more information."
        )
    );
    let fifty: String = (1..=METADATA_MAX_KEYS)
        .map(|i| format!("&metadata[k{i}]=v"))
        .collect();
    assert!(check_body(CREATE_PRICE, &format!("currency=usd{fifty}")).is_ok());

    let long_key = "k".repeat(METADATA_MAX_KEY_CHARS + 1);
    assert_eq!(
        check_error(
            CREATE_SESSION,
            &format!("mode=payment&success_url=u&payment_intent_data[metadata][{long_key}]=v")
        ),
        error(
            "payment_intent_data[metadata]",
            None,
            &format!("Invalid key: {long_key} must be a string under 40 characters")
        )
    );
    let key_at_limit = "é".repeat(METADATA_MAX_KEY_CHARS);
    let value_at_limit = "é".repeat(METADATA_MAX_VALUE_CHARS);
    assert!(
        check_body(
            CREATE_PRICE,
            &format!("currency=usd&metadata[{key_at_limit}]={value_at_limit}")
        )
        .is_ok()
    );

    let long_value = "v".repeat(METADATA_MAX_VALUE_CHARS + 1);
    assert_eq!(
        check_error(
            CREATE_PRICE,
            &format!("currency=usd&metadata[k]={long_value}")
        ),
        error(
            "metadata",
            None,
            &format!("Invalid val: {long_value} must be a string under 500 characters")
        )
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&metadata[k][]=a&metadata[k][]=b"),
        error(
            "metadata",
            None,
            r#"Invalid val: ["a", "b"] must be a string under 500 characters"#
        )
    );
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&metadata=flat"),
        error("metadata", None, "Invalid hash")
    );
}

#[test]
fn accepts_already_typed_json() {
    let params = object(json!({
        "currency": "usd",
        "unit_amount": 5,
        "active": true,
        "metadata": {"n": 1, "gone": null}
    }));
    assert_eq!(
        check(CREATE_PRICE, &params).map(Value::Object),
        Ok(json!({
            "currency": "usd",
            "unit_amount": 5,
            "active": true,
            "metadata": {"n": "1", "gone": ""}
        }))
    );
    let float = object(json!({"currency": "usd", "unit_amount": 1.5}));
    assert_eq!(
        check(CREATE_PRICE, &float).map_err(|e| e.message),
        Err("Invalid integer: 1.5".to_owned())
    );
}

#[test]
fn suggests_only_close_names() {
    assert_eq!(suggestion("prise", LINE_ITEM), Some("price"));
    assert_eq!(suggestion("quantty", LINE_ITEM), Some("quantity"));
    assert_eq!(suggestion("colour", LINE_ITEM), None);
    assert_eq!(suggestion(&"x".repeat(10_000), LINE_ITEM), None);
    // A swap of neighbouring letters is one edit, as in paywire's other
    // hints: `rpcie` is two swaps from `price`, though four plain edits.
    assert_eq!(suggestion("rpcie", LINE_ITEM), Some("price"));
}

#[test]
fn form_errors_become_param_errors() {
    assert_eq!(
        check_error(CREATE_PRICE, "currency=usd&metadata=x&metadata[k]=v"),
        error(
            "metadata",
            None,
            "Invalid parameter metadata: given as a value and as a hash"
        )
    );
    assert_eq!(ParamError::from(decode_error("a[b=1")).param, "a[b");
}
