//! Migrations: tables created, columns added with their defaults, changes
//! that would lose data refused with every problem listed, and names that
//! stay one identifier however hostile.

use super::*;

async fn creates_tables_and_migrates_once(store: TestStore) {
    let people = people();
    let notes = table("notes", vec![column("body", ColumnType::Text)]);
    assert_eq!(
        migrate(&store, &[&people, &notes]).await,
        Ok((vec!["people".into(), "notes".into()], Vec::new()))
    );
    assert_eq!(
        migrate(&store, &[&people, &notes]).await,
        Ok((Vec::new(), Vec::new()))
    );
    let later = table("later", Vec::new());
    assert_eq!(
        count(&store, &[&people, &later, &notes]).await,
        vec![0, 0, 0]
    );

    insert(&store, &people, json!({"id": "p1", "name": "Ada"}))
        .await
        .unwrap();
    insert(&store, &people, json!({"id": "p2", "name": "Bo"}))
        .await
        .unwrap();
    insert(&store, &notes, json!({"body": "hi"})).await.unwrap();
    assert_eq!(
        count(&store, &[&people, &later, &notes]).await,
        vec![2, 0, 1]
    );
}

async fn adds_columns_with_their_defaults_back_filled(store: TestStore) {
    let before = table("accounts", vec![key("id", ColumnType::Text)]);
    migrate(&store, &[&before]).await.unwrap();
    insert(&store, &before, json!({"id": "a1"})).await.unwrap();
    insert(&store, &before, json!({"id": "a2"})).await.unwrap();

    let hostile = "it's \"x\"'); DROP TABLE accounts; --\n\r\u{2028}end";
    let after = table(
        "accounts",
        vec![
            key("id", ColumnType::Text),
            with_default("label", ColumnType::Text, json!(hostile)),
            with_default("meta", ColumnType::Json, json!({"'": [hostile], "n": 1})),
            with_default("biggest", ColumnType::Integer, json!(i64::MAX)),
            with_default("smallest", ColumnType::Integer, json!(i64::MIN)),
            with_default("huge", ColumnType::Number, json!(1e308)),
            with_default("tiny", ColumnType::Number, json!(5e-324)),
            with_default("flag", ColumnType::Boolean, json!(true)),
            with_default(
                "at",
                ColumnType::Timestamp,
                json!("2026-01-31T13:00:00+01:00"),
            ),
            // Required with a default, and unique without one: both can be
            // added to a table that has rows.
            Column {
                required: true,
                ..with_default("plan", ColumnType::Text, json!("free"))
            },
            unique("handle", ColumnType::Text),
            column("note", ColumnType::Text),
        ],
    );
    let (created, added) = migrate(&store, &[&after]).await.unwrap();
    assert!(created.is_empty());
    assert_eq!(
        added,
        [
            "label", "meta", "biggest", "smallest", "huge", "tiny", "flag", "at", "plan", "handle",
            "note"
        ]
        .map(|c| format!("accounts.{c}"))
    );
    let row = |id: &str| {
        json!({
            "id": id, "label": hostile, "meta": {"'": [hostile], "n": 1},
            "biggest": i64::MAX, "smallest": i64::MIN, "huge": 1e308, "tiny": 5e-324,
            "flag": true, "at": "2026-01-31T12:00:00.000Z", "plan": "free", "handle": null, "note": null
        })
    };
    assert_eq!(
        all(&store, &after).await,
        json!([row("a1"), row("a2")]),
        "{}",
        store.backend
    );

    // The new unique column is unique from now on.
    update(
        &store,
        &after,
        Selector::Id(json!("a1")),
        json!({"handle": "h"}),
    )
    .await
    .unwrap();
    assert!(matches!(
        update(
            &store,
            &after,
            Selector::Id(json!("a2")),
            json!({"handle": "h"})
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        migrate(&store, &[&after]).await,
        Ok((Vec::new(), Vec::new()))
    );
}

async fn refuses_changes_that_lose_data_listing_every_problem(store: TestStore) {
    let before = table(
        "orders",
        vec![
            key("id", ColumnType::Text),
            column("code", ColumnType::Text),
            column("amount", ColumnType::Integer),
            column("status", ColumnType::Text),
            column("gone", ColumnType::Text),
        ],
    );
    migrate(&store, &[&before]).await.unwrap();
    for (id, code) in [("o1", "A"), ("o2", "A")] {
        insert(
            &store,
            &before,
            json!({"id": id, "code": code, "amount": 5, "status": "paid"}),
        )
        .await
        .unwrap();
    }
    let after = table(
        "orders",
        vec![
            key("id", ColumnType::Text),
            unique("code", ColumnType::Text),
            column("amount", ColumnType::Number),
            column("status", ColumnType::Text),
            required("due", ColumnType::Timestamp),
            Column {
                unique: true,
                ..with_default("ref", ColumnType::Text, json!("r"))
            },
        ],
    );
    let fresh = table("fresh", Vec::new());
    let refused = migrate(&store, &[&fresh, &after]).await;
    assert_eq!(
        refused,
        Err(StoreError::Migration(vec![
            "the column `orders.code` cannot become unique: some rows share a value; make them distinct first".into(),
            "the column `orders.amount` is integer in the database but number in the YAML: converting it could lose data; add a new column instead".into(),
            "the column `orders.gone` is in the database but no longer in the YAML: dropping it would lose its data; put it back, or drop it yourself with SQL if the data can go".into(),
            "the new column `orders.due` is required but has no default, and the table already has 2 rows: give it a default for them".into(),
            "the new column `orders.ref` is unique, but its default would give the table's 2 rows the same value: add it without `unique`, fill it, then make it unique".into(),
        ])),
        "{}",
        store.backend
    );

    // A changed key is refused too, named from both of its columns.
    let rekeyed = table(
        "orders",
        vec![
            column("id", ColumnType::Text),
            key("code", ColumnType::Text),
            column("amount", ColumnType::Integer),
            column("status", ColumnType::Text),
            column("gone", ColumnType::Text),
        ],
    );
    assert_eq!(
        migrate(&store, &[&rekeyed]).await,
        Err(StoreError::Migration(vec![
            "the primary key of `orders` cannot change from `id` (it would rewrite every row)"
                .into(),
            "the primary key of `orders` cannot change from `id` (it would rewrite every row)"
                .into(),
        ])),
        "{}",
        store.backend
    );

    // Nothing changed: no new table, no new column, the rows as they were.
    assert_eq!(count(&store, &[&fresh, &before]).await, vec![0, 2]);
    assert_eq!(
        all(&store, &before).await,
        json!([
            {"id": "o1", "code": "A", "amount": 5, "status": "paid", "gone": null},
            {"id": "o2", "code": "A", "amount": 5, "status": "paid", "gone": null},
        ])
    );
    assert_eq!(
        migrate(&store, &[&fresh, &before]).await,
        Ok((vec!["fresh".into()], Vec::new()))
    );
}

async fn unique_columns_come_and_go(store: TestStore) {
    let plain = table("users", vec![column("email", ColumnType::Text)]);
    let uniq = table("users", vec![unique("email", ColumnType::Text)]);
    migrate(&store, &[&plain]).await.unwrap();
    insert(&store, &plain, json!({"email": "a@x"}))
        .await
        .unwrap();
    insert(&store, &plain, json!({"email": null}))
        .await
        .unwrap();
    insert(&store, &plain, json!({"email": null}))
        .await
        .unwrap();
    // Rows without a value do not share one.
    assert_eq!(
        migrate(&store, &[&uniq]).await,
        Ok((Vec::new(), Vec::new()))
    );
    assert_eq!(
        insert(&store, &uniq, json!({"email": "a@x"})).await,
        Err(StoreError::Conflict(
            "a row with the same value already exists (UNIQUE constraint failed: users.email)"
                .into()
        ))
    );
    migrate(&store, &[&plain]).await.unwrap();
    insert(&store, &plain, json!({"email": "a@x"}))
        .await
        .unwrap();
    assert_eq!(count(&store, &[&plain]).await, vec![4]);
}

async fn hostile_names_stay_one_identifier(store: TestStore) {
    let bystander = table("bystander", vec![key("id", ColumnType::Text)]);
    migrate(&store, &[&bystander]).await.unwrap();
    insert(&store, &bystander, json!({"id": "kept"}))
        .await
        .unwrap();
    for name in [
        "a\"b",
        "x\"; DROP TABLE bystander; --",
        "line\nbreak",
        "quote's",
        "\"\"",
        "Mixed Case",
        "pg_x",
    ] {
        let hostile = table(
            name,
            vec![
                key(name, ColumnType::Text),
                unique(&format!("{name}'"), ColumnType::Text),
                with_default(&format!("{name}\""), ColumnType::Integer, json!(1)),
            ],
        );
        assert_eq!(
            migrate(&store, &[&hostile]).await,
            Ok((vec![name.to_string()], Vec::new())),
            "{} {name:?}",
            store.backend
        );
        let row = json!({name: "r1", format!("{name}'"): "u", format!("{name}\""): 1});
        assert_eq!(
            insert(
                &store,
                &hostile,
                json!({name: "r1", format!("{name}'"): "u"})
            )
            .await,
            Ok(row.clone())
        );
        assert!(matches!(
            insert(
                &store,
                &hostile,
                json!({name: "r2", format!("{name}'"): "u"})
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            select(
                &store,
                &hostile,
                vec![filter(&format!("{name}'"), FilterOp::Like, json!("U"))],
                &[(name, Direction::Desc)],
                10,
                0
            )
            .await,
            Ok(json!([row]))
        );
        assert_eq!(
            update(
                &store,
                &hostile,
                Selector::Id(json!("r1")),
                json!({format!("{name}\""): 2})
            )
            .await,
            Ok(json!({name: "r1", format!("{name}'"): "u", format!("{name}\""): 2}))
        );
        assert_eq!(count(&store, &[&hostile]).await, vec![1]);
        assert_eq!(
            delete(&store, &hostile, Selector::Id(json!("r1"))).await,
            Ok(json!({"deleted": 1}))
        );
        // Migrating again finds the table and its unique index.
        assert_eq!(
            migrate(&store, &[&hostile]).await,
            Ok((Vec::new(), Vec::new()))
        );
    }
    assert_eq!(all(&store, &bystander).await, json!([{"id": "kept"}]));

    // A NUL cannot be part of a name: the statement fails, nothing else.
    let nul = table("n\0; DROP TABLE bystander; --", Vec::new());
    assert!(migrate(&store, &[&nul]).await.is_err());
    assert_eq!(all(&store, &bystander).await, json!([{"id": "kept"}]));
}

on_both_backends!(
    creates_tables_and_migrates_once,
    adds_columns_with_their_defaults_back_filled,
    refuses_changes_that_lose_data_listing_every_problem,
    unique_columns_come_and_go,
    hostile_names_stay_one_identifier,
);
