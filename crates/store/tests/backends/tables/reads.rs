//! Selects: values of every type read back as written, filters with each
//! operator, order, limit and offset.

use super::*;

async fn round_trips_every_column_type(store: TestStore) {
    let kinds = kinds();
    migrate(&store, &[&kinds]).await.unwrap();
    let cases = [
        (
            json!({"id": "max", "t": "a'b\"c; --", "i": i64::MAX, "n": 1e308, "b": true,
                   "at": "2026-01-31T13:00:00+01:00", "j": {"a": [1, "x", null, true], "b": {"c": 1.5}}}),
            json!({"id": "max", "t": "a'b\"c; --", "i": i64::MAX, "n": 1e308, "b": true,
                   "at": "2026-01-31T12:00:00.000Z", "j": {"a": [1, "x", null, true], "b": {"c": 1.5}}}),
        ),
        (
            json!({"id": "min", "t": "", "i": i64::MIN, "n": 5e-324, "b": false,
                   "at": "2026-01-31T12:00:00.5Z", "j": [1, 2]}),
            json!({"id": "min", "t": "", "i": i64::MIN, "n": 5e-324, "b": false,
                   "at": "2026-01-31T12:00:00.500Z", "j": [1, 2]}),
        ),
        (
            json!({"id": "whole", "t": "ünï\u{2028}cødé ✓", "i": 0, "n": 7, "b": null,
                   "at": "2026-01-31T12:00:00.123456Z", "j": "text"}),
            json!({"id": "whole", "t": "ünï\u{2028}cødé ✓", "i": 0, "n": 7.0, "b": null,
                   "at": "2026-01-31T12:00:00.123456Z", "j": "text"}),
        ),
        (
            json!({"id": "scalars", "n": -0.25, "j": 42}),
            json!({"id": "scalars", "t": null, "i": null, "n": -0.25, "b": null, "at": null, "j": 42}),
        ),
        (
            json!({"id": "bools", "j": false}),
            json!({"id": "bools", "t": null, "i": null, "n": null, "b": null, "at": null, "j": false}),
        ),
        (
            json!({"id": "float", "j": 2.5}),
            json!({"id": "float", "t": null, "i": null, "n": null, "b": null, "at": null, "j": 2.5}),
        ),
        (
            json!({"id": "nulls", "t": null, "i": null, "n": null, "b": null, "at": null, "j": null}),
            json!({"id": "nulls", "t": null, "i": null, "n": null, "b": null, "at": null, "j": null}),
        ),
    ];
    for (given, stored) in cases {
        let id = given["id"].clone();
        assert_eq!(
            insert(&store, &kinds, given).await,
            Ok(stored.clone()),
            "{} {id}",
            store.backend
        );
        assert_eq!(
            get(&store, &kinds, id.clone()).await,
            Ok(stored),
            "{} {id}",
            store.backend
        );
    }
    assert_eq!(get(&store, &kinds, json!("none")).await, Ok(Value::Null));
}

/// SQLite keeps a JSON value that is one number as a number, so a whole
/// float reads back as an integer there; PostgreSQL answers the same.
/// Numbers inside lists and objects keep their form.
async fn single_json_numbers_read_as_sqlite_reads_them(store: TestStore) {
    let kinds = kinds();
    migrate(&store, &[&kinds]).await.unwrap();
    let cases = [
        (json!(1.0), json!(1)),
        (json!(-3.0), json!(-3)),
        (json!(1e18), json!(1_000_000_000_000_000_000_i64)),
        (json!(0.1), json!(0.1)),
        (json!(1e300), json!(1e300)),
        (json!(i64::MAX), json!(i64::MAX)),
        (json!(u64::MAX), json!(u64::MAX as f64)),
        (json!([1.0, 2.5]), json!([1.0, 2.5])),
        (json!({"a": 1.0}), json!({"a": 1.0})),
        (json!("1.0"), json!("1.0")),
    ];
    for (n, (given, read)) in cases.into_iter().enumerate() {
        let row = insert(&store, &kinds, json!({"id": n.to_string(), "j": given}))
            .await
            .unwrap();
        assert_eq!(row["j"], read, "{} {given}", store.backend);
        assert_eq!(
            get(&store, &kinds, json!(n.to_string())).await.unwrap()["j"],
            read,
            "{} {given}",
            store.backend
        );
    }
}

/// A time reads back in one form on both backends, however it was given
/// (Unix seconds or text, with any fraction), and filters and order
/// compare times as instants: SQLite, which keeps each time's text as it
/// was given, answers as PostgreSQL, which keeps the instant.
async fn timestamps_read_alike_and_compare_as_instants_however_given(store: TestStore) {
    let kinds = kinds();
    migrate(&store, &[&kinds]).await.unwrap();
    let given = [
        ("seconds", json!(1_700_000_000)),
        ("text", json!("2023-11-14T22:13:20Z")),
        ("offset", json!("2023-11-14T23:13:20.000+01:00")),
        ("half", json!("2023-11-14T22:13:20.5Z")),
        ("micro", json!("2023-11-14T22:13:20.000001Z")),
        ("next", json!(1_700_000_001)),
    ];
    let mut read = Vec::new();
    for (id, at) in given {
        let row = insert(&store, &kinds, json!({"id": id, "at": at}))
            .await
            .unwrap();
        read.push(row["at"].clone());
    }
    assert_eq!(
        read,
        [
            json!("2023-11-14T22:13:20.000Z"),
            json!("2023-11-14T22:13:20.000Z"),
            json!("2023-11-14T22:13:20.000Z"),
            json!("2023-11-14T22:13:20.500Z"),
            json!("2023-11-14T22:13:20.000001Z"),
            json!("2023-11-14T22:13:21.000Z"),
        ],
        "{}",
        store.backend
    );
    let same = json!(["offset", "seconds", "text"]);
    let cases = [
        (
            filter("at", FilterOp::Eq, json!(1_700_000_000)),
            same.clone(),
        ),
        (
            filter("at", FilterOp::Eq, json!("2023-11-14T22:13:20Z")),
            same.clone(),
        ),
        (
            filter("at", FilterOp::Eq, json!("2023-11-14T22:13:20.000Z")),
            same.clone(),
        ),
        (
            filter("at", FilterOp::In, json!(["2023-11-14T22:13:20Z", 1])),
            same.clone(),
        ),
        (
            filter("at", FilterOp::Ne, json!(1_700_000_000)),
            json!(["half", "micro", "next"]),
        ),
        (
            filter("at", FilterOp::Gt, json!("2023-11-14T22:13:20Z")),
            json!(["half", "micro", "next"]),
        ),
        (
            filter("at", FilterOp::Lte, json!("2023-11-14T22:13:20.5Z")),
            json!(["half", "micro", "offset", "seconds", "text"]),
        ),
        (filter("at", FilterOp::Lt, json!(1_700_000_000)), json!([])),
    ];
    for (f, expected) in cases {
        let label = format!("{} {:?} {}", store.backend, f.op, f.value);
        assert_eq!(keys(&store, &kinds, vec![f]).await, Ok(expected), "{label}");
    }
    let ordered = select(
        &store,
        &kinds,
        Vec::new(),
        &[("at", Direction::Desc), ("id", Direction::Asc)],
        100,
        0,
    )
    .await
    .unwrap();
    let ids: Vec<&Value> = ordered
        .as_array()
        .map(|rows| rows.iter().map(|r| &r["id"]).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        [
            &json!("next"),
            &json!("half"),
            &json!("micro"),
            &json!("offset"),
            &json!("seconds"),
            &json!("text")
        ],
        "{}",
        store.backend
    );
}

async fn filters_answer_with_each_operator(store: TestStore) {
    let scores = fill_scores(&store).await;
    let cases = [
        (filter("points", FilterOp::Eq, json!(20)), json!([2, 5])),
        (filter("points", FilterOp::Ne, json!(20)), json!([1, 3])),
        (filter("points", FilterOp::Gt, json!(10)), json!([2, 5])),
        (filter("points", FilterOp::Gte, json!(10)), json!([1, 2, 5])),
        (filter("points", FilterOp::Lt, json!(10)), json!([3])),
        (filter("points", FilterOp::Lte, json!(10)), json!([1, 3])),
        (filter("points", FilterOp::Eq, Value::Null), json!([4])),
        (
            filter("points", FilterOp::Ne, Value::Null),
            json!([1, 2, 3, 5]),
        ),
        (filter("points", FilterOp::Gt, Value::Null), json!([])),
        (
            filter("points", FilterOp::In, json!([10, -5, 99])),
            json!([1, 3]),
        ),
        (
            filter("points", FilterOp::In, json!([10, null])),
            json!([1]),
        ),
        (filter("points", FilterOp::In, json!([])), json!([])),
        (
            filter("points", FilterOp::NotIn, json!([10, -5])),
            json!([2, 5]),
        ),
        (
            filter("points", FilterOp::NotIn, json!([])),
            json!([1, 2, 3, 4, 5]),
        ),
        (
            filter("points", FilterOp::NotIn, json!([10, null])),
            json!([]),
        ),
        (filter("ratio", FilterOp::Gt, json!(1)), json!([2, 3])),
        (filter("ratio", FilterOp::Eq, json!(2)), json!([3])),
        (filter("ratio", FilterOp::Lte, json!(0.5)), json!([1, 5])),
        (filter("won", FilterOp::Eq, json!(true)), json!([1, 3])),
        (filter("won", FilterOp::Ne, json!(true)), json!([2, 5])),
        (filter("won", FilterOp::Gt, json!(false)), json!([1, 3])),
        (filter("won", FilterOp::In, json!([false])), json!([2, 5])),
        (filter("name", FilterOp::Eq, json!("Bob")), json!([2])),
        (filter("name", FilterOp::Eq, json!("bob")), json!([])),
        (filter("name", FilterOp::Gt, json!("alice")), json!([3, 4])),
        (filter("name", FilterOp::Lt, json!("a")), json!([2])),
        (
            filter("name", FilterOp::In, json!(["alice", "Bob", "x"])),
            json!([1, 2]),
        ),
        // `like` ignores the case of ASCII letters only; `%` and `_` are
        // its wildcards and a backslash is an ordinary character.
        (filter("name", FilterOp::Like, json!("BOB")), json!([2])),
        (
            filter("name", FilterOp::Like, json!("%L%")),
            json!([1, 3, 4]),
        ),
        (filter("name", FilterOp::Like, json!("émile")), json!([])),
        (filter("name", FilterOp::Like, json!("Émil_")), json!([4])),
        (
            filter("name", FilterOp::Like, json!("carol\\_50\\%")),
            json!([]),
        ),
        (filter("name", FilterOp::Like, json!("%50%")), json!([3])),
        (filter("name", FilterOp::Like, json!("a\\b")), json!([5])),
        (filter("name", FilterOp::Like, json!("a\\%")), json!([5])),
        (filter("points", FilterOp::Like, json!("2%")), json!([2, 5])),
        (filter("points", FilterOp::Like, json!("-%")), json!([3])),
        (filter("won", FilterOp::Like, json!("1")), json!([1, 3])),
        (
            filter("at", FilterOp::Like, json!("2026-0%")),
            json!([1, 2, 3]),
        ),
        (
            filter("at", FilterOp::Like, json!("%T23:59:59Z")),
            json!([5]),
        ),
        (filter("tags", FilterOp::Like, json!("\"x\"")), json!([3])),
        (
            filter("at", FilterOp::Gte, json!("2026-02-01T00:00:00Z")),
            json!([2, 3]),
        ),
        (
            filter("at", FilterOp::Lt, json!("2026-01-01T00:00:00Z")),
            json!([5]),
        ),
        (
            filter("at", FilterOp::Eq, json!("2026-01-31T19:00:00-05:00")),
            json!([2]),
        ),
        (filter("tags", FilterOp::Eq, json!(["a"])), json!([1])),
        (filter("tags", FilterOp::Eq, json!({"k": 1})), json!([2])),
        (filter("tags", FilterOp::Eq, json!("x")), json!([3])),
        (filter("tags", FilterOp::Eq, json!(3)), json!([5])),
        (filter("tags", FilterOp::Ne, json!(3)), json!([1, 2, 3])),
        (
            filter("tags", FilterOp::In, json!([["a"], 3])),
            json!([1, 5]),
        ),
        // JSON compares numbers first, then the other values by their text.
        (filter("tags", FilterOp::Gt, json!(3)), json!([1, 2, 3])),
        (filter("tags", FilterOp::Lt, json!("y")), json!([3, 5])),
        (filter("tags", FilterOp::Gt, json!("y")), json!([1, 2])),
    ];
    for (f, expected) in cases {
        let label = format!("{} {} {:?} {}", store.backend, f.column, f.op, f.value);
        assert_eq!(
            keys(&store, &scores, vec![f]).await,
            Ok(expected),
            "{label}"
        );
    }
    // Filters together must all hold.
    assert_eq!(
        keys(
            &store,
            &scores,
            vec![
                filter("points", FilterOp::Gte, json!(10)),
                filter("won", FilterOp::Eq, json!(false)),
                filter("name", FilterOp::Like, json!("b%")),
            ]
        )
        .await,
        Ok(json!([2]))
    );
}

async fn orders_limits_and_offsets(store: TestStore) {
    let scores = fill_scores(&store).await;
    let names = |rows: Value| -> Vec<Value> {
        rows.as_array()
            .map(|rows| rows.iter().map(|r| r["name"].clone()).collect())
            .unwrap_or_default()
    };
    let ordered = |column: &'static str, direction: Direction| {
        let scores = scores.clone();
        let store = &store;
        async move {
            names(
                select(
                    store,
                    &scores,
                    Vec::new(),
                    &[(column, direction), ("id", Direction::Asc)],
                    100,
                    0,
                )
                .await
                .unwrap(),
            )
        }
    };
    // Text sorts by its bytes: capitals before small letters, accents last.
    assert_eq!(
        ordered("name", Direction::Asc).await,
        [
            json!("Bob"),
            json!("a\\b"),
            json!("alice"),
            json!("carol_50%"),
            json!("Émile")
        ]
    );
    assert_eq!(
        ordered("name", Direction::Desc).await,
        [
            json!("Émile"),
            json!("carol_50%"),
            json!("alice"),
            json!("a\\b"),
            json!("Bob")
        ]
    );
    // Empty values come first going up and last going down.
    assert_eq!(
        ordered("points", Direction::Asc).await,
        [
            json!("Émile"),
            json!("carol_50%"),
            json!("alice"),
            json!("Bob"),
            json!("a\\b")
        ]
    );
    assert_eq!(
        ordered("points", Direction::Desc).await,
        [
            json!("Bob"),
            json!("a\\b"),
            json!("alice"),
            json!("carol_50%"),
            json!("Émile")
        ]
    );
    assert_eq!(
        ordered("ratio", Direction::Asc).await,
        [
            json!("Émile"),
            json!("a\\b"),
            json!("alice"),
            json!("Bob"),
            json!("carol_50%")
        ]
    );
    assert_eq!(
        ordered("won", Direction::Desc).await,
        [
            json!("alice"),
            json!("carol_50%"),
            json!("Bob"),
            json!("a\\b"),
            json!("Émile")
        ]
    );
    assert_eq!(
        ordered("at", Direction::Asc).await,
        [
            json!("Émile"),
            json!("a\\b"),
            json!("alice"),
            json!("Bob"),
            json!("carol_50%")
        ]
    );
    // JSON: numbers first, then the rest by their text (`"x"`, `[…]`, `{…}`).
    assert_eq!(
        ordered("tags", Direction::Asc).await,
        [
            json!("Émile"),
            json!("a\\b"),
            json!("carol_50%"),
            json!("alice"),
            json!("Bob")
        ]
    );
    assert_eq!(
        ordered("tags", Direction::Desc).await,
        [
            json!("Bob"),
            json!("alice"),
            json!("carol_50%"),
            json!("a\\b"),
            json!("Émile")
        ]
    );
    // Several terms, then a page of the result.
    let page = |limit: u32, offset: u64| {
        let scores = scores.clone();
        let store = &store;
        async move {
            names(
                select(
                    store,
                    &scores,
                    Vec::new(),
                    &[
                        ("won", Direction::Asc),
                        ("points", Direction::Desc),
                        ("id", Direction::Asc),
                    ],
                    limit,
                    offset,
                )
                .await
                .unwrap(),
            )
        }
    };
    assert_eq!(
        page(100, 0).await,
        [
            json!("Émile"),
            json!("Bob"),
            json!("a\\b"),
            json!("alice"),
            json!("carol_50%")
        ]
    );
    assert_eq!(page(2, 1).await, [json!("Bob"), json!("a\\b")]);
    assert_eq!(page(2, 4).await, [json!("carol_50%")]);
    assert_eq!(page(2, 5).await, Vec::<Value>::new());
    assert_eq!(page(0, 0).await, Vec::<Value>::new());
    assert_eq!(page(1, u64::MAX).await, Vec::<Value>::new());
}

on_both_backends!(
    round_trips_every_column_type,
    single_json_numbers_read_as_sqlite_reads_them,
    timestamps_read_alike_and_compare_as_instants_however_given,
    filters_answer_with_each_operator,
    orders_limits_and_offsets,
);
