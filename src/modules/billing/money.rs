//! Clerk's Money objects: an amount in the currency's minor unit with its
//! formatted value and symbol.

use serde::Serialize;

/// `{amount, amount_formatted, currency, currency_symbol}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: i64,
    /// Without the symbol (`"25.00"`), as Clerk sends it: its UI puts
    /// `currency_symbol` in front.
    pub amount_formatted: String,
    pub currency: String,
    pub currency_symbol: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Self {
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        Self {
            amount,
            amount_formatted: format!("{sign}{}.{:02}", abs / 100, abs % 100),
            currency: currency.to_owned(),
            currency_symbol: symbol(currency).to_owned(),
        }
    }
}

/// The symbol Clerk shows for a currency; the code itself for the rest.
fn symbol(currency: &str) -> &str {
    match currency {
        "USD" | "CAD" | "AUD" | "NZD" | "SGD" | "HKD" | "MXN" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" | "CNY" => "¥",
        "INR" => "₹",
        "CHF" => "CHF",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units() {
        let money = Money::new(2500, "USD");
        assert_eq!(
            (
                money.amount_formatted.as_str(),
                money.currency_symbol.as_str()
            ),
            ("25.00", "$")
        );
        assert_eq!(Money::new(5, "EUR").amount_formatted, "0.05");
        assert_eq!(Money::new(-1999, "USD").amount_formatted, "-19.99");
    }
}
