//! What starts a backend workflow: a `start` step (`manual`), paywire
//! starting (`startup`), or a Stripe event, as WeWeb's "On checkout session event" workflows are started.
//!
//! A Stripe trigger names the kind of object the event is about
//! (`stripe.checkout_session`), and may keep only some actions (`completed`,
//! the last part of the event's type) or exact event types. Events are
//! matched by the type of their `data.object`, so `customer.subscription.*`
//! events start `stripe.subscription` workflows and not `stripe.customer`
//! ones, as a builder expects.

#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// Started by a `start` step of another workflow or API.
    Manual,
    /// Started once each time paywire starts serving (setup work, such as
    /// making sure the products and prices a flow sells exist).
    Startup,
    Stripe(StripeTrigger),
}

#[derive(Clone, Debug, PartialEq)]
pub struct StripeTrigger {
    pub on: &'static StripeTriggerKind,
    /// Only these actions (`completed`); empty: all.
    pub actions: Vec<String>,
    /// Only these exact event types; empty: all.
    pub types: Vec<String>,
}

/// One kind of Stripe trigger: its name, the `object` of the events it
/// takes, and the actions Stripe sends for it.
#[derive(Debug, PartialEq)]
pub struct StripeTriggerKind {
    pub name: &'static str,
    /// `data.object.object`; `None` takes every event (`stripe.event`).
    pub object: Option<&'static str>,
    pub actions: &'static [&'static str],
}

pub static STRIPE_TRIGGERS: &[StripeTriggerKind] = &[
    StripeTriggerKind {
        name: "stripe.checkout_session",
        object: Some("checkout.session"),
        actions: &[
            "completed",
            "expired",
            "async_payment_succeeded",
            "async_payment_failed",
        ],
    },
    StripeTriggerKind {
        name: "stripe.payment_intent",
        object: Some("payment_intent"),
        actions: &[
            "created",
            "succeeded",
            "payment_failed",
            "canceled",
            "processing",
            "requires_action",
            "amount_capturable_updated",
            "partially_funded",
        ],
    },
    StripeTriggerKind {
        name: "stripe.subscription",
        object: Some("subscription"),
        actions: &[
            "created",
            "updated",
            "deleted",
            "paused",
            "resumed",
            "trial_will_end",
            "pending_update_applied",
            "pending_update_expired",
        ],
    },
    StripeTriggerKind {
        name: "stripe.invoice",
        object: Some("invoice"),
        actions: &[
            "created",
            "updated",
            "deleted",
            "finalized",
            "finalization_failed",
            "paid",
            "payment_succeeded",
            "payment_failed",
            "payment_action_required",
            "upcoming",
            "sent",
            "voided",
            "marked_uncollectible",
            "overdue",
            "overpaid",
            "will_be_due",
        ],
    },
    StripeTriggerKind {
        name: "stripe.customer",
        object: Some("customer"),
        actions: &["created", "updated", "deleted"],
    },
    StripeTriggerKind {
        name: "stripe.charge",
        object: Some("charge"),
        actions: &[
            "succeeded",
            "failed",
            "pending",
            "captured",
            "expired",
            "refunded",
            "updated",
        ],
    },
    StripeTriggerKind {
        name: "stripe.refund",
        object: Some("refund"),
        actions: &["created", "updated", "failed"],
    },
    StripeTriggerKind {
        name: "stripe.product",
        object: Some("product"),
        actions: &["created", "updated", "deleted"],
    },
    StripeTriggerKind {
        name: "stripe.price",
        object: Some("price"),
        actions: &["created", "updated", "deleted"],
    },
    StripeTriggerKind {
        name: "stripe.event",
        object: None,
        actions: &[],
    },
];

pub fn stripe_trigger(name: &str) -> Option<&'static StripeTriggerKind> {
    STRIPE_TRIGGERS.iter().find(|t| t.name == name)
}

/// The action of an event type: its last part (`completed` of
/// `checkout.session.completed`, `trial_will_end` of
/// `customer.subscription.trial_will_end`).
pub fn event_action(event_type: &str) -> &str {
    event_type.rsplit('.').next().unwrap_or(event_type)
}

impl StripeTrigger {
    /// Whether an event of `event_type` about an object of `object_type`
    /// starts the workflow.
    pub fn matches(&self, event_type: &str, object_type: &str) -> bool {
        if let Some(object) = self.on.object
            && object != object_type
        {
            return false;
        }
        let action = event_action(event_type);
        (self.actions.is_empty() || self.actions.iter().any(|a| a == action))
            && (self.types.is_empty() || self.types.iter().any(|t| t == event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(name: &str, actions: &[&str], types: &[&str]) -> StripeTrigger {
        StripeTrigger {
            on: stripe_trigger(name).unwrap(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            types: types.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn events_match_by_object_then_action_or_type() {
        let sessions = trigger("stripe.checkout_session", &[], &[]);
        assert!(sessions.matches("checkout.session.completed", "checkout.session"));
        assert!(!sessions.matches("payment_intent.succeeded", "payment_intent"));
        let completed = trigger("stripe.checkout_session", &["completed"], &[]);
        assert!(completed.matches("checkout.session.completed", "checkout.session"));
        assert!(!completed.matches("checkout.session.expired", "checkout.session"));
        let subscriptions = trigger("stripe.subscription", &["updated"], &[]);
        assert!(subscriptions.matches("customer.subscription.updated", "subscription"));
        let customers = trigger("stripe.customer", &[], &[]);
        assert!(!customers.matches("customer.subscription.updated", "subscription"));
        assert!(customers.matches("customer.deleted", "customer"));
        let refunds = trigger("stripe.refund", &[], &[]);
        assert!(refunds.matches("charge.refund.updated", "refund"));
        let any = trigger("stripe.event", &[], &["invoice.paid"]);
        assert!(any.matches("invoice.paid", "invoice"));
        assert!(!any.matches("invoice.created", "invoice"));
    }

    #[test]
    fn the_action_is_the_last_part_of_the_type() {
        assert_eq!(event_action("checkout.session.completed"), "completed");
        assert_eq!(
            event_action("customer.subscription.trial_will_end"),
            "trial_will_end"
        );
        assert_eq!(
            event_action("payment_intent.payment_failed"),
            "payment_failed"
        );
        assert_eq!(event_action("ping"), "ping");
    }
}
