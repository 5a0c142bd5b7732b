//! Stripe's test cards: which card numbers, tokens (`tok_visa`) and test
//! payment methods (`pm_card_visa`) exist, and what happens when they pay.

/// What a charge on a card does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeds,
    /// Declined with this decline code.
    Declined(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestCard {
    pub number: &'static str,
    pub brand: &'static str,
    pub funding: &'static str,
    pub outcome: Outcome,
}

impl TestCard {
    pub fn last4(&self) -> &'static str {
        &self.number[self.number.len() - 4..]
    }
}

const fn card(number: &'static str, brand: &'static str, outcome: Outcome) -> TestCard {
    TestCard {
        number,
        brand,
        funding: "credit",
        outcome,
    }
}

/// The cards of Stripe's testing guide that the sandbox knows.
pub const CARDS: &[TestCard] = &[
    card("4242424242424242", "visa", Outcome::Succeeds),
    card("4000056655665556", "visa", Outcome::Succeeds),
    card("5555555555554444", "mastercard", Outcome::Succeeds),
    card("378282246310005", "amex", Outcome::Succeeds),
    card("6011111111111117", "discover", Outcome::Succeeds),
    card(
        "4000000000000002",
        "visa",
        Outcome::Declined("generic_decline"),
    ),
    card(
        "4000000000009995",
        "visa",
        Outcome::Declined("insufficient_funds"),
    ),
    card("4000000000009987", "visa", Outcome::Declined("lost_card")),
    card("4000000000009979", "visa", Outcome::Declined("stolen_card")),
    card(
        "4000000000000069",
        "visa",
        Outcome::Declined("expired_card"),
    ),
    card(
        "4000000000000127",
        "visa",
        Outcome::Declined("incorrect_cvc"),
    ),
    card(
        "4000000000000119",
        "visa",
        Outcome::Declined("processing_error"),
    ),
    // Pay, then are disputed at once (`resources/disputes.rs`): a fraud
    // chargeback, and an inquiry.
    card("4000000000000259", "visa", Outcome::Succeeds),
    card("4000000000001976", "visa", Outcome::Succeeds),
    // Attaches to a customer, then declines when charged.
    card(
        "4000000000000341",
        "visa",
        Outcome::Declined("generic_decline"),
    ),
];

pub fn by_number(number: &str) -> Option<&'static TestCard> {
    let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    CARDS.iter().find(|c| c.number == digits)
}

/// The card behind a test token (`tok_visa`) or test payment method
/// (`pm_card_visa`).
pub fn by_test_name(name: &str) -> Option<&'static TestCard> {
    let suffix = name
        .strip_prefix("tok_")
        .or_else(|| name.strip_prefix("pm_card_"))?;
    let number = match suffix {
        "visa" => "4242424242424242",
        "visa_debit" => "4000056655665556",
        "mastercard" => "5555555555554444",
        "amex" => "378282246310005",
        "discover" => "6011111111111117",
        "chargeDeclined" | "visa_chargeDeclined" => "4000000000000002",
        "chargeDeclinedInsufficientFunds" | "visa_chargeDeclinedInsufficientFunds" => {
            "4000000000009995"
        }
        "chargeDeclinedLostCard" | "visa_chargeDeclinedLostCard" => "4000000000009987",
        "chargeDeclinedStolenCard" | "visa_chargeDeclinedStolenCard" => "4000000000009979",
        "chargeDeclinedExpiredCard" | "visa_chargeDeclinedExpiredCard" => "4000000000000069",
        "chargeDeclinedIncorrectCvc" | "visa_chargeDeclinedIncorrectCvc" => "4000000000000127",
        "chargeDeclinedProcessingError" | "visa_chargeDeclinedProcessingError" => {
            "4000000000000119"
        }
        "chargeCustomerFail" | "visa_chargeCustomerFail" => "4000000000000341",
        "createDispute" => "4000000000000259",
        "createDisputeInquiry" => "4000000000001976",
        _ => return None,
    };
    by_number(number)
}

/// Whether setting the card up for later (a setup intent) succeeds: a card
/// that declines does not save, except the one that attaches and only
/// declines when charged.
pub fn saves(card: &TestCard) -> bool {
    card.outcome == Outcome::Succeeds || card.number == "4000000000000341"
}

/// Stripe's message for a decline code.
pub fn decline_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "lost_card" | "stolen_card" | "generic_decline" => "Your card was declined.",
        "expired_card" => "Your card has expired.",
        "incorrect_cvc" => "Your card's security code is incorrect.",
        "processing_error" => {
            "An error occurred while processing your card. Try again in a little bit."
        }
        _ => "Your card was declined.",
    }
}

/// The error `code` Stripe gives with a decline code.
pub fn error_code(decline: &str) -> &'static str {
    match decline {
        "expired_card" => "expired_card",
        "incorrect_cvc" => "incorrect_cvc",
        "processing_error" => "processing_error",
        _ => "card_declined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_numbers_and_payment_methods_agree() {
        assert_eq!(by_test_name("tok_visa"), by_number("4242 4242 4242 4242"));
        assert_eq!(by_test_name("pm_card_visa").unwrap().last4(), "4242");
        assert_eq!(
            by_test_name("pm_card_chargeDeclined").unwrap().outcome,
            Outcome::Declined("generic_decline")
        );
        assert_eq!(
            by_number("4000000000009995").unwrap().outcome,
            Outcome::Declined("insufficient_funds")
        );
        assert_eq!(by_test_name("tok_nonsense"), None);
        assert_eq!(by_number("1234"), None);
    }
}
