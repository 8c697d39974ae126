//! Validation of a charge request and the masked view of a card number.
//!
//! Owns: the Luhn check (ISO/IEC 7812-1 annex B), PAN length (12–19 digits), masking to at
//! most the first six and last four digits (PCI DSS v4.0 requirement 3.4.1), the amount and
//! currency rules, and the charge id format.
//! Does not: talk to a card network (every valid charge is "authorized"), check currency
//! codes against the ISO 4217 list, or store anything.
//!
//! The full card number lives only inside [`CardNumber`], whose `Debug` and `Display` are
//! masked; no error here carries any part of it.

use std::fmt;

use crate::json::{self, JsonError, Value};

/// Fewest digits in a card number (ISO/IEC 7812-1).
pub const CARD_DIGITS_MIN: usize = 12;
/// Most digits in a card number (ISO/IEC 7812-1).
pub const CARD_DIGITS_MAX: usize = 19;
/// Most characters accepted in `card_number` before separators are removed.
pub const CARD_NUMBER_CHARS_MAX: usize = 32;
/// Largest charge accepted: 1,000,000.00 in the currency's minor unit.
pub const AMOUNT_CENTS_MAX: u64 = 100_000_000;
/// Leading digits that may be shown (PCI DSS requirement 3.4.1).
const SHOWN_LEADING_DIGITS: usize = 6;
/// Trailing digits that may be shown (PCI DSS requirement 3.4.1).
const SHOWN_TRAILING_DIGITS: usize = 4;

/// A card number that passed the length and Luhn checks. Prints masked.
pub struct CardNumber {
    digits: String,
}

impl CardNumber {
    /// Removes spaces and hyphens, then checks the characters, the length and the Luhn digit.
    pub fn parse(text: &str) -> Result<CardNumber, ChargeError> {
        if text.len() > CARD_NUMBER_CHARS_MAX {
            return Err(ChargeError::CardNumberLength);
        }
        let digits: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ChargeError::CardNumberCharacters);
        }
        if !(CARD_DIGITS_MIN..=CARD_DIGITS_MAX).contains(&digits.len()) {
            return Err(ChargeError::CardNumberLength);
        }
        if !luhn_valid(&digits) {
            return Err(ChargeError::CardNumberChecksum);
        }
        Ok(CardNumber { digits })
    }

    /// The number with all but the first six and last four digits replaced by `*`.
    pub fn masked(&self) -> String {
        mask(&self.digits)
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.masked())
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CardNumber({})", self.masked())
    }
}

/// True when the last digit of `digits` is the Luhn check digit of the others.
/// `digits` must be ASCII digits only.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (index, byte) in digits.bytes().rev().enumerate() {
        let mut digit = u32::from(byte - b'0');
        if index % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// Shows at most the first six and last four digits; shorter inputs are masked entirely,
/// so that a short number never shows more than 10 of its digits.
pub fn mask(digits: &str) -> String {
    let length = digits.chars().count();
    if length < CARD_DIGITS_MIN {
        return "*".repeat(length);
    }
    digits
        .chars()
        .enumerate()
        .map(|(index, c)| {
            if index < SHOWN_LEADING_DIGITS || index >= length - SHOWN_TRAILING_DIGITS {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// A validated request to authorize a charge.
#[derive(Debug)]
pub struct ChargeRequest {
    pub card: CardNumber,
    pub amount_cents: u64,
    /// Three ASCII upper-case letters.
    pub currency: String,
}

/// Why a charge request was refused. Messages never contain request data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeError {
    InvalidJson(JsonError),
    UnknownField,
    MissingField(&'static str),
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    CardNumberCharacters,
    CardNumberLength,
    CardNumberChecksum,
    AmountNotInteger,
    AmountNotPositive,
    AmountTooLarge,
    Currency,
}

impl ChargeError {
    /// 400 when the body is not JSON at all, 422 when it is JSON but not a valid charge.
    pub fn status(&self) -> u16 {
        match self {
            ChargeError::InvalidJson(_) => 400,
            _ => 422,
        }
    }

    /// A stable kebab-case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ChargeError::InvalidJson(_) => "invalid-json",
            ChargeError::UnknownField => "unknown-field",
            ChargeError::MissingField(_) => "missing-field",
            ChargeError::WrongType { .. } => "wrong-type",
            ChargeError::CardNumberCharacters
            | ChargeError::CardNumberLength
            | ChargeError::CardNumberChecksum => "invalid-card-number",
            ChargeError::AmountNotInteger
            | ChargeError::AmountNotPositive
            | ChargeError::AmountTooLarge => "invalid-amount",
            ChargeError::Currency => "invalid-currency",
        }
    }
}

impl fmt::Display for ChargeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChargeError::InvalidJson(error) => write!(formatter, "body is not a JSON object: {error}"),
            ChargeError::UnknownField => formatter.write_str(
                "body has an unknown field; expected only `card_number`, `amount_cents` and `currency`",
            ),
            ChargeError::MissingField(field) => write!(formatter, "`{field}` is required"),
            ChargeError::WrongType { field, expected, found } => {
                write!(formatter, "`{field}` must be {expected}, not {found}")
            }
            ChargeError::CardNumberCharacters => formatter
                .write_str("`card_number` must contain only digits, spaces and hyphens"),
            ChargeError::CardNumberLength => write!(
                formatter,
                "`card_number` must have {CARD_DIGITS_MIN} to {CARD_DIGITS_MAX} digits"
            ),
            ChargeError::CardNumberChecksum => {
                formatter.write_str("`card_number` fails the Luhn check")
            }
            ChargeError::AmountNotInteger => {
                formatter.write_str("`amount_cents` must be a whole number of minor units")
            }
            ChargeError::AmountNotPositive => {
                formatter.write_str("`amount_cents` must be greater than zero")
            }
            ChargeError::AmountTooLarge => {
                write!(formatter, "`amount_cents` must be at most {AMOUNT_CENTS_MAX}")
            }
            ChargeError::Currency => formatter
                .write_str("`currency` must be a three-letter ISO 4217 code such as `EUR`"),
        }
    }
}

/// Parses and validates a `POST /v1/charges` body.
pub fn parse_charge_request(body: &[u8]) -> Result<ChargeRequest, ChargeError> {
    let fields = json::parse_flat_object(body).map_err(ChargeError::InvalidJson)?;
    let mut card_number = None;
    let mut amount = None;
    let mut currency = None;
    for (name, value) in fields {
        let slot = match name.as_str() {
            "card_number" => &mut card_number,
            "amount_cents" => &mut amount,
            "currency" => &mut currency,
            _ => return Err(ChargeError::UnknownField),
        };
        *slot = Some(value);
    }

    let card_number = expect_string("card_number", card_number)?;
    let amount = match amount {
        Some(Value::Number(text)) => text,
        Some(other) => return Err(wrong_type("amount_cents", "an integer", &other)),
        None => return Err(ChargeError::MissingField("amount_cents")),
    };
    let currency = expect_string("currency", currency)?;

    Ok(ChargeRequest {
        card: CardNumber::parse(&card_number)?,
        amount_cents: parse_amount(&amount)?,
        currency: parse_currency(&currency)?,
    })
}

fn expect_string(field: &'static str, value: Option<Value>) -> Result<String, ChargeError> {
    match value {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(wrong_type(field, "a string", &other)),
        None => Err(ChargeError::MissingField(field)),
    }
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> ChargeError {
    ChargeError::WrongType {
        field,
        expected,
        found: found.type_name(),
    }
}

/// `text` is a JSON number; only plain integers are amounts.
fn parse_amount(text: &str) -> Result<u64, ChargeError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ChargeError::AmountNotInteger);
    }
    if negative || digits.bytes().all(|byte| byte == b'0') {
        return Err(ChargeError::AmountNotPositive);
    }
    match digits.parse::<u64>() {
        Ok(amount) if amount <= AMOUNT_CENTS_MAX => Ok(amount),
        _ => Err(ChargeError::AmountTooLarge),
    }
}

fn parse_currency(text: &str) -> Result<String, ChargeError> {
    if text.len() == 3 && text.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(ChargeError::Currency)
    }
}

/// `ch_` followed by the creation time in milliseconds and a per-process sequence number,
/// both in hex. Unique within one process; a real service would use its database's id.
pub fn charge_id(unix_ms: u64, sequence: u64) -> String {
    format!("ch_{unix_ms:011x}{:06x}", sequence & 0xff_ffff)
}

/// The `201 Created` body for an authorized charge.
pub fn authorized_json(id: &str, charge: &ChargeRequest) -> String {
    format!(
        "{{\"id\":{},\"card\":{},\"amount_cents\":{},\"currency\":{},\"status\":\"authorized\"}}",
        json::quote(id),
        json::quote(&charge.card.masked()),
        charge.amount_cents,
        json::quote(&charge.currency),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test card number from the card networks' published test ranges.
    const TEST_PAN: &str = "4242424242424242";

    #[test]
    fn luhn_accepts_known_valid_numbers() {
        for digits in [
            TEST_PAN,
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "79927398713",
            "0",
        ] {
            assert!(luhn_valid(digits), "{digits}");
        }
    }

    #[test]
    fn luhn_rejects_a_changed_digit_and_a_swap() {
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        // Luhn catches adjacent transpositions except 09 <-> 90.
        assert!(!luhn_valid("4242424242424224"));
    }

    #[test]
    fn masks_to_first_six_and_last_four() {
        assert_eq!(mask(TEST_PAN), "424242******4242");
        assert_eq!(mask("378282246310005"), "378282*****0005");
        assert_eq!(mask("123456789012"), "123456**9012");
        assert_eq!(mask("1234567890123456789"), "123456*********6789");
        assert_eq!(mask("12345678901"), "***********");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn card_number_never_prints_in_full() {
        let card = CardNumber::parse(TEST_PAN).unwrap();
        assert_eq!(card.to_string(), "424242******4242");
        assert_eq!(format!("{card:?}"), "CardNumber(424242******4242)");
        let request = parse_charge_request(
            br#"{"card_number":"4242424242424242","amount_cents":1,"currency":"eur"}"#,
        )
        .unwrap();
        assert!(!format!("{request:?}").contains(TEST_PAN));
    }

    #[test]
    fn card_number_rules() {
        assert_eq!(
            CardNumber::parse("4242 4242-4242 4242").unwrap().masked(),
            "424242******4242"
        );
        let cases = [
            ("", ChargeError::CardNumberCharacters),
            ("4242x42424242424", ChargeError::CardNumberCharacters),
            ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", ChargeError::CardNumberCharacters),
            ("4242424242424241", ChargeError::CardNumberChecksum),
            // 11 digits that pass Luhn: one short of the minimum.
            ("79927398713", ChargeError::CardNumberLength),
            // 20 digits that pass Luhn: one past the maximum.
            ("42424242424242424242", ChargeError::CardNumberLength),
            (
                &"4".repeat(CARD_NUMBER_CHARS_MAX + 1),
                ChargeError::CardNumberLength,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(CardNumber::parse(input).unwrap_err(), expected, "{input:?}");
        }
        // Both length boundaries, with valid check digits.
        assert!(CardNumber::parse("123456789015").is_ok());
        assert!(CardNumber::parse("4242424242424242428").is_ok());
    }

    #[test]
    fn parses_a_valid_request() {
        let request = parse_charge_request(
            br#"{"card_number":"4242424242424242","amount_cents":1234,"currency":"eur"}"#,
        )
        .unwrap();
        assert_eq!(request.amount_cents, 1234);
        assert_eq!(request.currency, "EUR");
        assert_eq!(
            authorized_json("ch_1", &request),
            r#"{"id":"ch_1","card":"424242******4242","amount_cents":1234,"currency":"EUR","status":"authorized"}"#
        );
    }

    #[test]
    fn request_errors() {
        let body = |card: &str, amount: &str, currency: &str| {
            format!(r#"{{"card_number":{card},"amount_cents":{amount},"currency":{currency}}}"#)
        };
        let pan = format!("\"{TEST_PAN}\"");
        let cases = [
            (body(&pan, "0", "\"EUR\""), ChargeError::AmountNotPositive),
            (body(&pan, "-5", "\"EUR\""), ChargeError::AmountNotPositive),
            (body(&pan, "1.5", "\"EUR\""), ChargeError::AmountNotInteger),
            (body(&pan, "1e3", "\"EUR\""), ChargeError::AmountNotInteger),
            (
                body(&pan, "100000001", "\"EUR\""),
                ChargeError::AmountTooLarge,
            ),
            (
                body(&pan, "99999999999999999999999", "\"EUR\""),
                ChargeError::AmountTooLarge,
            ),
            (
                body(&pan, "\"12\"", "\"EUR\""),
                wrong("amount_cents", "an integer", "a string"),
            ),
            (body(&pan, "5", "\"EURO\""), ChargeError::Currency),
            (body(&pan, "5", "\"E1R\""), ChargeError::Currency),
            (
                body(&pan, "5", "null"),
                wrong("currency", "a string", "null"),
            ),
            (
                body("4242424242424242", "5", "\"EUR\""),
                wrong("card_number", "a string", "a number"),
            ),
            (
                body("\"4242424242424241\"", "5", "\"EUR\""),
                ChargeError::CardNumberChecksum,
            ),
            (
                r#"{"amount_cents":5,"currency":"EUR"}"#.to_owned(),
                ChargeError::MissingField("card_number"),
            ),
            (
                r#"{"card_number":"x","currency":"EUR"}"#.to_owned(),
                ChargeError::MissingField("amount_cents"),
            ),
            (
                format!(r#"{{"card_number":{pan},"amount_cents":5}}"#),
                ChargeError::MissingField("currency"),
            ),
            (
                format!(r#"{{"card_number":{pan},"cvv":"123"}}"#),
                ChargeError::UnknownField,
            ),
        ];
        for (input, expected) in cases {
            let error = parse_charge_request(input.as_bytes()).unwrap_err();
            assert_eq!(error, expected, "{input}");
            assert_eq!(error.status(), 422);
            assert!(!error.to_string().contains("4242"), "{error}");
        }
        assert_eq!(AMOUNT_CENTS_MAX, parse_amount("100000000").unwrap());
    }

    #[test]
    fn malformed_json_is_a_400() {
        let error = parse_charge_request(b"card_number=4242424242424242").unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(error.code(), "invalid-json");
        assert_eq!(
            error.to_string(),
            "body is not a JSON object: expected a JSON object at byte 0"
        );
    }

    #[test]
    fn charge_ids_are_ordered_by_time_then_sequence() {
        assert_eq!(charge_id(0x18c_0000_0000, 1), "ch_18c00000000000001");
        assert!(charge_id(1_700_000_000_000, 2) > charge_id(1_700_000_000_000, 1));
        assert!(charge_id(1_700_000_000_001, 0) > charge_id(1_700_000_000_000, 5));
    }

    fn wrong(field: &'static str, expected: &'static str, found: &'static str) -> ChargeError {
        ChargeError::WrongType {
            field,
            expected,
            found,
        }
    }
}
