//! The sandbox's invoice items over HTTP: changed and deleted while they
//! are pending or on a draft invoice, whose lines and totals follow, and
//! refused once their invoice is finalized.

use reqwest::Method;
use serde_json::Value;

use crate::sandbox::{receiver, sandbox};
use crate::sandbox_invoices::{customer, delivered_types, draft, id, ok, refused, strings};

#[tokio::test]
async fn invoice_items_change_or_go_while_pending_or_on_a_draft() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let customer = customer(&base).await;

    // A pending item: changed, then deleted.
    let pending = id(&ok(
        &base,
        Method::POST,
        "/v1/invoiceitems",
        &format!("customer={customer}&amount=1000&currency=usd"),
    )
    .await);
    let changed = ok(
        &base,
        Method::POST,
        &format!("/v1/invoiceitems/{pending}"),
        "amount=1500&description=Consulting&metadata[ref]=7",
    )
    .await;
    assert_eq!(
        (
            changed["amount"].clone(),
            changed["description"].clone(),
            changed["metadata"]["ref"].clone()
        ),
        (
            Value::from(1500),
            Value::from("Consulting"),
            Value::from("7")
        )
    );
    let deleted = ok(
        &base,
        Method::DELETE,
        &format!("/v1/invoiceitems/{pending}"),
        "",
    )
    .await;
    assert_eq!(
        deleted,
        serde_json::json!({"id": pending, "object": "invoiceitem", "deleted": true})
    );
    assert_eq!(
        delivered_types(&base, &pending, &received).await,
        strings(&["invoiceitem.created", "invoiceitem.deleted"])
    );
    refused(
        &base,
        404,
        Method::GET,
        &format!("/v1/invoiceitems/{pending}"),
        "",
    )
    .await;
    let again = refused(
        &base,
        404,
        Method::DELETE,
        &format!("/v1/invoiceitems/{pending}"),
        "",
    )
    .await;
    assert_eq!(
        again["message"],
        format!("No such invoiceitem: '{pending}'")
    );
    let list = ok(
        &base,
        Method::GET,
        &format!("/v1/invoiceitems?customer={customer}"),
        "",
    )
    .await;
    assert_eq!(list["data"], serde_json::json!([]));

    // Items on a draft: its lines and totals follow them.
    let invoice = draft(&base, &customer, "", 2000).await;
    let second = id(&ok(
        &base,
        Method::POST,
        "/v1/invoiceitems",
        &format!("customer={customer}&invoice={invoice}&amount=300&currency=usd&quantity=3"),
    )
    .await);
    let before = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(before["amount_due"], 2300);
    let first = before["lines"]["data"][0]["parent"]["invoice_item_details"]["invoice_item"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &base,
        Method::DELETE,
        &format!("/v1/invoiceitems/{first}"),
        "",
    )
    .await;
    let after = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(
        (after["amount_due"].clone(), after["total"].clone()),
        (Value::from(300), Value::from(300))
    );
    assert_eq!(after["lines"]["data"].as_array().unwrap().len(), 1);
    // A new quantity keeps the unit amount.
    let more = ok(
        &base,
        Method::POST,
        &format!("/v1/invoiceitems/{second}"),
        "quantity=5",
    )
    .await;
    assert_eq!(
        (more["quantity"].clone(), more["amount"].clone()),
        (Value::from(5), Value::from(500))
    );
    let after = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(after["amount_due"], 500);
    assert_eq!(after["lines"]["data"][0]["quantity"], 5);
    assert_eq!(
        delivered_types(&base, &invoice, &received).await,
        strings(&[
            "invoice.created",
            "invoice.updated",
            "invoice.updated",
            "invoice.updated",
            "invoice.updated"
        ])
    );
    assert_eq!(
        delivered_types(&base, &first, &received).await,
        strings(&["invoiceitem.created", "invoiceitem.deleted"])
    );

    // Bad parameters.
    let negative = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoiceitems/{second}"),
        "quantity=-1",
    )
    .await;
    assert_eq!(negative["param"], "quantity");
    let unknown = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoiceitems/{second}"),
        "customer=cus_other",
    )
    .await;
    assert_eq!(
        (unknown["code"].clone(), unknown["param"].clone()),
        (Value::from("parameter_unknown"), Value::from("customer"))
    );
    let huge = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoiceitems/{second}"),
        "quantity=9223372036854775807",
    )
    .await;
    assert_eq!(huge["param"], "quantity");
    refused(
        &base,
        404,
        Method::POST,
        "/v1/invoiceitems/ii_nope",
        "amount=1",
    )
    .await;
    refused(&base, 404, Method::DELETE, "/v1/invoiceitems/ii_nope", "").await;

    // Once the invoice is finalized, its items stay as they are, but for
    // their metadata.
    ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/finalize"),
        "",
    )
    .await;
    for (method, form) in [(Method::DELETE, ""), (Method::POST, "amount=100")] {
        let error = refused(
            &base,
            400,
            method,
            &format!("/v1/invoiceitems/{second}"),
            form,
        )
        .await;
        assert_eq!(error["code"], "invoice_not_editable", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("is no longer a draft (its status is open)"),
            "{error}"
        );
    }
    let tagged = ok(
        &base,
        Method::POST,
        &format!("/v1/invoiceitems/{second}"),
        "metadata[po]=42",
    )
    .await;
    assert_eq!(
        (tagged["metadata"]["po"].clone(), tagged["amount"].clone()),
        (Value::from("42"), Value::from(500))
    );
    let open = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(open["amount_due"], 500);
}
