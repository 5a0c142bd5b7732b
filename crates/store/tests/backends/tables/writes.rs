//! Inserts, updates and deletes: values refused by column, rows changed by
//! key and by filters, integer keys numbered, duplicates as conflicts and
//! what `on_conflict` does with them.

use super::*;

async fn values_of_the_wrong_type_are_invalid_naming_the_column(store: TestStore) {
    let kinds = kinds();
    let people = people();
    migrate(&store, &[&kinds, &people]).await.unwrap();
    let invalid = |message: &str| Err(StoreError::Invalid(message.into()));
    assert_eq!(
        insert(&store, &kinds, json!({"id": "x", "i": "1"})).await,
        invalid("the column `i` must be an integer, not a string")
    );
    assert_eq!(
        insert(&store, &kinds, json!({"id": "x", "i": 1.5})).await,
        invalid("the column `i` must be an integer, not a number with a fraction")
    );
    assert_eq!(
        insert(&store, &kinds, json!({"id": "x", "b": 1})).await,
        invalid("the column `b` must be true or false, not a number")
    );
    assert_eq!(
        insert(&store, &kinds, json!({"id": "x", "t": ["a"]})).await,
        invalid("the column `t` must be text, not a list")
    );
    assert!(matches!(
        insert(&store, &kinds, json!({"id": "x", "at": "noon"})).await,
        Err(StoreError::Invalid(m)) if m.starts_with("the column `at` must be a timestamp")
    ));
    assert!(matches!(
        insert(&store, &kinds, json!({"id": "x", "i": u64::MAX})).await,
        Err(StoreError::Invalid(m)) if m.starts_with("the column `i` must be an integer that fits in 64 bits")
    ));
    assert_eq!(
        insert(&store, &kinds, json!({"id": "x", "nope": 1})).await,
        invalid("the table `kinds` has no column `nope`")
    );
    assert_eq!(
        insert(&store, &kinds, json!({"t": "no key"})).await,
        invalid("the column `id` of `kinds` needs a value")
    );
    assert_eq!(
        insert(&store, &people, json!({"id": "p1"})).await,
        invalid("the column `name` of `people` needs a value")
    );
    assert_eq!(
        insert(&store, &people, json!({"id": "p1", "name": null})).await,
        invalid("the column `name` of `people` needs a value")
    );
    insert(&store, &people, json!({"id": "p1", "name": "Ada"}))
        .await
        .unwrap();
    assert_eq!(
        update(
            &store,
            &people,
            Selector::Id(json!("p1")),
            json!({"name": null})
        )
        .await,
        invalid("the column `name` is required and cannot be null")
    );
    assert_eq!(
        update(&store, &people, Selector::Id(json!("p1")), json!({})).await,
        invalid("`values` names no column to update")
    );
    assert_eq!(
        update(
            &store,
            &people,
            Selector::Id(json!("p1")),
            json!({"age": "old"})
        )
        .await,
        invalid("the column `age` must be an integer, not a string")
    );
    assert_eq!(
        get(&store, &people, json!(5)).await,
        invalid("the column `id` must be text, not a number")
    );
    assert_eq!(
        keys(
            &store,
            &people,
            vec![filter("age", FilterOp::Gt, json!("ten"))]
        )
        .await,
        invalid("the column `age` must be an integer, not a string")
    );
    assert_eq!(
        keys(&store, &people, vec![filter("age", FilterOp::In, json!(5))]).await,
        invalid("the filter `age` takes a list of values")
    );
    assert_eq!(
        keys(
            &store,
            &people,
            vec![filter("age", FilterOp::In, json!([5, "x"]))]
        )
        .await,
        invalid("the column `age` must be an integer, not a string")
    );
    assert_eq!(
        keys(
            &store,
            &people,
            vec![filter("name", FilterOp::Like, json!(5))]
        )
        .await,
        invalid("the filter `name` like takes text such as `%@example.com`")
    );
    assert_eq!(
        keys(
            &store,
            &people,
            vec![filter("nope", FilterOp::Eq, json!(5))]
        )
        .await,
        invalid("the table `people` has no column `nope`")
    );
    assert_eq!(
        select(
            &store,
            &people,
            Vec::new(),
            &[("nope", Direction::Asc)],
            10,
            0
        )
        .await,
        invalid("the table `people` has no column `nope`")
    );
    // Nothing was written by the refused operations.
    assert_eq!(count(&store, &[&kinds, &people]).await, vec![0, 1]);
    assert_eq!(
        all(&store, &people).await,
        json!([{"id": "p1", "name": "Ada", "email": null, "age": null}])
    );
}

async fn updates_and_deletes_by_id_and_by_filters(store: TestStore) {
    let scores = fill_scores(&store).await;
    assert_eq!(
        update(
            &store,
            &scores,
            Selector::Id(json!(2)),
            json!({"points": 25, "tags": null})
        )
        .await,
        Ok(
            json!({"id": 2, "name": "Bob", "points": 25, "ratio": 1.5, "won": false,
                  "at": "2026-02-01T00:00:00.000Z", "tags": null})
        )
    );
    assert_eq!(
        update(
            &store,
            &scores,
            Selector::Id(json!(99)),
            json!({"points": 1})
        )
        .await,
        Ok(Value::Null)
    );
    let updated = update(
        &store,
        &scores,
        Selector::Filters(vec![filter("won", FilterOp::Eq, json!(true))]),
        json!({"ratio": 9, "at": "2027-01-01T00:00:00Z"}),
    )
    .await
    .unwrap();
    let mut updated = updated.as_array().cloned().unwrap_or_default();
    updated.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(
        updated,
        [
            json!({"id": 1, "name": "alice", "points": 10, "ratio": 9.0, "won": true,
                   "at": "2027-01-01T00:00:00.000Z", "tags": ["a"]}),
            json!({"id": 3, "name": "carol_50%", "points": -5, "ratio": 9.0, "won": true,
                   "at": "2027-01-01T00:00:00.000Z", "tags": "x"}),
        ]
    );
    assert_eq!(
        update(
            &store,
            &scores,
            Selector::Filters(vec![filter("name", FilterOp::Eq, json!("nobody"))]),
            json!({"points": 1})
        )
        .await,
        Ok(json!([]))
    );
    assert_eq!(
        keys(
            &store,
            &scores,
            vec![filter("ratio", FilterOp::Eq, json!(9))]
        )
        .await,
        Ok(json!([1, 3]))
    );

    assert_eq!(
        delete(&store, &scores, Selector::Id(json!(1))).await,
        Ok(json!({"deleted": 1}))
    );
    assert_eq!(
        delete(&store, &scores, Selector::Id(json!(1))).await,
        Ok(json!({"deleted": 0}))
    );
    assert_eq!(
        delete(
            &store,
            &scores,
            Selector::Filters(vec![filter("points", FilterOp::In, json!([20, 25]))])
        )
        .await,
        Ok(json!({"deleted": 2}))
    );
    assert_eq!(keys(&store, &scores, Vec::new()).await, Ok(json!([3, 4])));
    assert_eq!(
        delete(&store, &scores, Selector::Filters(Vec::new())).await,
        Ok(json!({"deleted": 2}))
    );
    assert_eq!(count(&store, &[&scores]).await, vec![0]);
}

async fn integer_keys_number_themselves(store: TestStore) {
    let notes = table("notes", vec![unique("slug", ColumnType::Text)]);
    migrate(&store, &[&notes]).await.unwrap();
    assert_eq!(
        insert(&store, &notes, json!({"slug": "a"})).await,
        Ok(json!({"id": 1, "slug": "a"}))
    );
    assert_eq!(
        insert(&store, &notes, json!({"id": null, "slug": "b"})).await,
        Ok(json!({"id": 2, "slug": "b"}))
    );
    // A failed insert takes no number.
    assert!(matches!(
        insert(&store, &notes, json!({"slug": "a"})).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        insert(&store, &notes, json!({})).await,
        Ok(json!({"id": 3, "slug": null}))
    );
    assert_eq!(
        insert(&store, &notes, json!({"id": 10, "slug": "c"})).await,
        Ok(json!({"id": 10, "slug": "c"}))
    );
    assert_eq!(
        insert(&store, &notes, json!({"slug": "d"})).await,
        Ok(json!({"id": 11, "slug": "d"}))
    );
    assert_eq!(
        get(&store, &notes, json!(10)).await,
        Ok(json!({"id": 10, "slug": "c"}))
    );
}

/// Inserts that number the same table at once each get a number of their
/// own, one after another, with none refused.
async fn integer_keys_are_numbered_one_by_one_under_concurrent_inserts(store: TestStore) {
    let notes = table("notes", vec![column("body", ColumnType::Text)]);
    migrate(&store, &[&notes]).await.unwrap();
    let mut inserts = tokio::task::JoinSet::new();
    for n in 0..24 {
        let (store, notes) = (store.store.clone(), notes.clone());
        inserts.spawn(async move {
            store
                .table_op(
                    TableOp::Insert {
                        table: notes,
                        values: object(json!({"body": n.to_string()})),
                        on_conflict: OnConflict::Error,
                    },
                    None,
                )
                .await
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = inserts.join_next().await {
        let row = done
            .expect("the insert's task")
            .unwrap_or_else(|e| panic!("{}: {e}", store.backend));
        ids.push(row["id"].as_i64().unwrap_or_default());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=24).collect::<Vec<i64>>(), "{}", store.backend);
}

async fn conflicts_and_on_conflict(store: TestStore) {
    let people = table(
        "people",
        vec![
            key("id", ColumnType::Text),
            required("name", ColumnType::Text),
            unique("email", ColumnType::Text),
            with_default("plan", ColumnType::Text, json!("free")),
            column("age", ColumnType::Integer),
        ],
    );
    migrate(&store, &[&people]).await.unwrap();
    let ada = json!({"id": "p1", "name": "Ada", "email": "ada@x", "plan": "free", "age": 36});
    assert_eq!(
        insert(
            &store,
            &people,
            json!({"id": "p1", "name": "Ada", "email": "ada@x", "age": 36})
        )
        .await,
        Ok(ada.clone())
    );
    insert(
        &store,
        &people,
        json!({"id": "p2", "name": "Bo", "email": "bo@x", "plan": "pro"}),
    )
    .await
    .unwrap();

    let duplicate_id = Err(StoreError::Conflict(
        "a row with the same value already exists (UNIQUE constraint failed: people.id)".into(),
    ));
    let duplicate_email = Err(StoreError::Conflict(
        "a row with the same value already exists (UNIQUE constraint failed: people.email)".into(),
    ));
    assert_eq!(
        insert(&store, &people, json!({"id": "p1", "name": "Other"})).await,
        duplicate_id
    );
    assert_eq!(
        insert(
            &store,
            &people,
            json!({"id": "p3", "name": "Eve", "email": "ada@x"})
        )
        .await,
        duplicate_email
    );
    assert_eq!(
        update(
            &store,
            &people,
            Selector::Id(json!("p2")),
            json!({"email": "ada@x"})
        )
        .await,
        duplicate_email
    );
    assert_eq!(
        update(
            &store,
            &people,
            Selector::Id(json!("p2")),
            json!({"id": "p1"})
        )
        .await,
        duplicate_id
    );

    // `nothing` keeps the row that is there and answers with it.
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p1", "name": "Other", "age": 1}),
            OnConflict::Nothing
        )
        .await,
        Ok(ada.clone())
    );
    // It only covers the key: another unique value still conflicts.
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p3", "name": "Eve", "email": "bo@x"}),
            OnConflict::Nothing
        )
        .await,
        duplicate_email
    );
    // `update` overwrites the columns given, and no default resets another.
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p2", "name": "Bob", "age": 41}),
            OnConflict::Update
        )
        .await,
        Ok(json!({"id": "p2", "name": "Bob", "email": "bo@x", "plan": "pro", "age": 41}))
    );
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p2", "name": "Bob"}),
            OnConflict::Update
        )
        .await,
        Ok(json!({"id": "p2", "name": "Bob", "email": "bo@x", "plan": "pro", "age": 41}))
    );
    // New rows get their defaults either way.
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p4", "name": "Cy"}),
            OnConflict::Update
        )
        .await,
        Ok(json!({"id": "p4", "name": "Cy", "email": null, "plan": "free", "age": null}))
    );
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p5", "name": "Di"}),
            OnConflict::Nothing
        )
        .await,
        Ok(json!({"id": "p5", "name": "Di", "email": null, "plan": "free", "age": null}))
    );
    assert_eq!(
        insert_with(
            &store,
            &people,
            json!({"id": "p6", "name": "Ed", "email": "ada@x"}),
            OnConflict::Update
        )
        .await,
        duplicate_email
    );
    assert_eq!(count(&store, &[&people]).await, vec![4]);
}

/// What SQLite stores and PostgreSQL cannot: a NUL in text or JSON, times
/// before 4714 BC, names longer than 63 bytes and the names of
/// PostgreSQL's own tables. PostgreSQL refuses them, by column or with a
/// migration problem, and nothing is written.
async fn what_postgresql_cannot_store(store: TestStore) {
    let kinds = kinds();
    migrate(&store, &[&kinds]).await.unwrap();
    let values = [
        ("t", json!("a\0b")),
        ("j", json!({"k": ["\0"]})),
        ("at", json!(-210_866_803_201_i64)),
    ];
    for (n, (name, value)) in values.into_iter().enumerate() {
        let id = n.to_string();
        let outcome = insert(&store, &kinds, json!({"id": id, name: value})).await;
        if store.backend == "sqlite" {
            assert!(outcome.is_ok(), "{name}: {outcome:?}");
        } else {
            assert!(
                matches!(&outcome, Err(StoreError::Invalid(m)) if m.starts_with(&format!("the column `{name}` must"))),
                "{name}: {outcome:?}"
            );
        }
    }
    let earliest = insert(
        &store,
        &kinds,
        json!({"id": "e", "at": -210_866_803_200_i64}),
    )
    .await;
    assert!(earliest.is_ok(), "{}: {earliest:?}", store.backend);

    let long = table(&"l".repeat(64), Vec::new());
    let catalog = table("pg_class", Vec::new());
    let fine = table(
        &"l".repeat(63),
        vec![unique(&"c".repeat(63), ColumnType::Text)],
    );
    let outcome = migrate(&store, &[&long, &catalog, &fine]).await;
    if store.backend == "sqlite" {
        assert!(outcome.is_ok(), "{outcome:?}");
    } else {
        assert_eq!(
            outcome,
            Err(StoreError::Migration(vec![
                format!(
                    "the table name `{}` is longer than the 63 bytes PostgreSQL keeps of a name: choose a shorter one",
                    "l".repeat(64)
                ),
                "the table name `pg_class` is that of PostgreSQL's own `pg_catalog.pg_class`, \
                 which every statement would find first: choose another name"
                    .into(),
            ]))
        );
        assert_eq!(count(&store, &[&fine]).await, vec![0]);
        assert_eq!(
            migrate(&store, &[&fine]).await,
            Ok((vec!["l".repeat(63)], Vec::new()))
        );
    }
    // A name of 63 bytes is kept whole, and so is its unique index.
    let c = "c".repeat(63);
    insert(&store, &fine, json!({&c: "x"})).await.unwrap();
    assert!(matches!(
        insert(&store, &fine, json!({&c: "x"})).await,
        Err(StoreError::Conflict(m)) if m.ends_with(&format!("{}.{c})", "l".repeat(63)))
    ));
    assert_eq!(
        migrate(&store, &[&fine]).await,
        Ok((Vec::new(), Vec::new()))
    );
}

on_both_backends!(
    values_of_the_wrong_type_are_invalid_naming_the_column,
    updates_and_deletes_by_id_and_by_filters,
    integer_keys_number_themselves,
    integer_keys_are_numbered_one_by_one_under_concurrent_inserts,
    conflicts_and_on_conflict,
    what_postgresql_cannot_store,
);
