//! Issuer identification number (IIN) ranges of the card brands, with the lengths each brand
//! issues. Sources: the brands' published IIN tables as collected in ISO/IEC 7812 registries
//! (Visa 4; Mastercard 51–55 and 2221–2720; American Express 34, 37; Discover 6011, 644–649,
//! 65; JCB 3528–3589 and the older 3088, 3096, 3112, 3158, 3337; Diners Club 300–305, 3095,
//! 36, 38, 39; UnionPay 62 and 81; Maestro 50, 56–58, 6304, 639, 67; Mir 2200–2204).

use serde::Serialize;

/// A card brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Brand {
    Visa,
    Mastercard,
    AmericanExpress,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Maestro,
    Mir,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::AmericanExpress => "american-express",
            Brand::Discover => "discover",
            Brand::Jcb => "jcb",
            Brand::DinersClub => "diners-club",
            Brand::UnionPay => "unionpay",
            Brand::Maestro => "maestro",
            Brand::Mir => "mir",
        }
    }
}

/// One IIN range: prefixes `low..=high` of `prefix_digits` digits, issued with these lengths.
struct Range {
    low: u32,
    high: u32,
    prefix_digits: usize,
    lengths: &'static [usize],
    brand: Brand,
}

const fn range(
    low: u32,
    high: u32,
    prefix_digits: usize,
    lengths: &'static [usize],
    brand: Brand,
) -> Range {
    Range {
        low,
        high,
        prefix_digits,
        lengths,
        brand,
    }
}

const LENGTHS_16_TO_19: &[usize] = &[16, 17, 18, 19];

/// Checked in order: the first match wins, so narrow ranges come before broad ones.
const RANGES: &[Range] = &[
    range(4, 4, 1, &[13, 16, 19], Brand::Visa),
    range(2221, 2720, 4, &[16], Brand::Mastercard),
    range(51, 55, 2, &[16], Brand::Mastercard),
    range(2200, 2204, 4, LENGTHS_16_TO_19, Brand::Mir),
    range(34, 34, 2, &[15], Brand::AmericanExpress),
    range(37, 37, 2, &[15], Brand::AmericanExpress),
    range(6011, 6011, 4, LENGTHS_16_TO_19, Brand::Discover),
    range(622126, 622925, 6, LENGTHS_16_TO_19, Brand::Discover),
    range(644, 649, 3, LENGTHS_16_TO_19, Brand::Discover),
    range(65, 65, 2, LENGTHS_16_TO_19, Brand::Discover),
    range(3528, 3589, 4, LENGTHS_16_TO_19, Brand::Jcb),
    range(3088, 3088, 4, &[16], Brand::Jcb),
    range(3096, 3096, 4, &[16], Brand::Jcb),
    range(3112, 3112, 4, &[16], Brand::Jcb),
    range(3158, 3158, 4, &[16], Brand::Jcb),
    range(3337, 3337, 4, &[16], Brand::Jcb),
    range(300, 305, 3, &[14, 15, 16, 17, 18, 19], Brand::DinersClub),
    range(3095, 3095, 4, &[14, 15, 16, 17, 18, 19], Brand::DinersClub),
    range(36, 36, 2, &[14, 15, 16, 17, 18, 19], Brand::DinersClub),
    range(38, 39, 2, &[14, 15, 16, 17, 18, 19], Brand::DinersClub),
    range(62, 62, 2, LENGTHS_16_TO_19, Brand::UnionPay),
    range(81, 81, 2, LENGTHS_16_TO_19, Brand::UnionPay),
    range(6304, 6304, 4, &[13, 14, 15, 16, 17, 18, 19], Brand::Maestro),
    range(639, 639, 3, &[13, 14, 15, 16, 17, 18, 19], Brand::Maestro),
    range(50, 50, 2, &[13, 14, 15, 16, 17, 18, 19], Brand::Maestro),
    range(56, 58, 2, &[13, 14, 15, 16, 17, 18, 19], Brand::Maestro),
    range(67, 67, 2, &[13, 14, 15, 16, 17, 18, 19], Brand::Maestro),
];

/// The brand whose IIN range and length `digits` falls in, if any.
pub fn brand(digits: &[u8]) -> Option<Brand> {
    RANGES.iter().find_map(|range| {
        if !range.lengths.contains(&digits.len()) || digits.len() < range.prefix_digits {
            return None;
        }
        let prefix = digits[..range.prefix_digits]
            .iter()
            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
        (range.low..=range.high)
            .contains(&prefix)
            .then_some(range.brand)
    })
}
