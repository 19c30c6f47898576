//! Exact money and ratios.
//!
//! Every amount the federation handles is in CNY with exactly two decimals (fen), and
//! every rate is a short decimal fraction. Both are kept as [`Decimal`] so that no
//! binary floating point ever touches a ledger figure: `0.1 + 0.2` must be `0.30`,
//! not `0.30000000000000004`. The types here refuse anything that could not be
//! stored in PostgreSQL `NUMERIC(18,2)` and offer only checked arithmetic, so an
//! overflow or a negative balance becomes a value the caller must handle rather
//! than a panic or a silently wrong figure.
//!
//! On the wire every value is a JSON *string* ("1500.00"): JSON numbers are
//! commonly parsed into doubles by clients, which would reintroduce exactly the
//! rounding errors this module exists to avoid.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// The largest amount in fen: sixteen integer digits and two decimals, which is
/// exactly what PostgreSQL `NUMERIC(18,2)` can hold.
const MAX_FEN: i128 = 999_999_999_999_999_999;

/// Money keeps two decimals, always.
const MONEY_SCALE: u32 = 2;

/// Sixteen digits before the decimal point is the `NUMERIC(18,2)` limit.
const MONEY_MAX_INT_DIGITS: usize = 16;

/// Rates and ratios are configured by people, and six decimals is already far
/// finer than any fee or matching rule the federation publishes.
const RATE_MAX_DECIMALS: usize = 6;

/// Ratios are capped at 1000, so four integer digits suffice before the exact
/// comparison against the cap takes over.
const RATE_MAX_INT_DIGITS: usize = 4;

/// The largest amount as a decimal, built from the low and middle 32-bit words
/// of [`MAX_FEN`] (which is below 2^64, so the high word is zero). A test checks
/// that it displays as "9999999999999999.99".
const MAX_DECIMAL: Decimal =
    Decimal::from_parts((MAX_FEN & 0xFFFF_FFFF) as u32, (MAX_FEN >> 32) as u32, 0, false, MONEY_SCALE);

/// Zero with scale 2, so that it displays as "0.00" like every other amount.
const ZERO_DECIMAL: Decimal = Decimal::from_parts(0, 0, 0, false, MONEY_SCALE);

/// The cap on [`Ratio`]; matching rules above 1000:1 are certainly typos.
const RATIO_MAX: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Why a string or decimal is not acceptable as an amount of money.
///
/// The messages are written for API users: they are shown next to the field
/// name in a validation error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The JSON value was a number, boolean, object, … instead of a string.
    #[error("must be a string with at most two decimals, like \"1500.00\"")]
    NotAString,
    /// The string was empty.
    #[error("must not be empty")]
    Empty,
    /// The string was not digits with an optional '.' and one or two decimals.
    #[error(
        "must contain only digits, optionally followed by '.' and one or two decimals, like \"1500.00\" (no sign, spaces, separators or exponent)"
    )]
    Malformed,
    /// The amount was negative.
    #[error("must not be negative")]
    Negative,
    /// The amount had more than two significant decimals.
    #[error("must have at most two decimals (whole fen)")]
    TooManyDecimals,
    /// The amount had more than sixteen integer digits.
    #[error("must be less than 10000000000000000 (at most 16 digits before the decimal point)")]
    TooLarge,
}

/// Why a string or decimal is not acceptable as a [`Rate`] or [`Ratio`].
///
/// The messages are written for API users, like those of [`MoneyError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The JSON value was a number, boolean, object, … instead of a string.
    #[error("must be a string with at most six decimals, like \"0.02\"")]
    NotAString,
    /// The string was empty.
    #[error("must not be empty")]
    Empty,
    /// The string was not digits with an optional '.' and one to six decimals.
    #[error(
        "must contain only digits, optionally followed by '.' and one to six decimals, like \"0.02\" (no sign, spaces, separators or exponent)"
    )]
    Malformed,
    /// The value was negative.
    #[error("must not be negative")]
    Negative,
    /// The value had more than six significant decimals.
    #[error("must have at most six decimals")]
    TooManyDecimals,
    /// The value was above the type's upper bound (1 for [`Rate`], 1000 for [`Ratio`]).
    #[error("must not be greater than {max}")]
    TooLarge {
        /// The upper bound, as it should be shown to the user.
        max: &'static str,
    },
}

/// The ways a plain decimal string can be refused, before the caller maps them
/// onto its own error type with its own wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlainError {
    Empty,
    Malformed,
    Negative,
    TooManyDecimals,
    TooLarge,
}

/// Parses the strict textual form shared by money and rates: ASCII digits,
/// optionally a '.' followed by at least one digit, nothing else.
///
/// Being stricter than [`Decimal::from_str`] is deliberate: exponents, signs,
/// spaces and thousands separators are all signs of a client formatting the
/// value in a way we did not agree on, and guessing what was meant is how money
/// gets lost. The resulting decimal has exactly as many decimals as the string.
fn parse_plain(s: &str, max_decimals: usize, max_int_digits: usize) -> Result<Decimal, PlainError> {
    if s.is_empty() {
        return Err(PlainError::Empty);
    }
    // A minus sign gets its own error because "must not be negative" is far more
    // helpful to the user than "malformed".
    if s.starts_with('-') {
        return Err(PlainError::Negative);
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (s, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || !frac_part.is_none_or(all_digits) {
        return Err(PlainError::Malformed);
    }
    let frac_part = frac_part.unwrap_or("");
    if frac_part.len() > max_decimals {
        return Err(PlainError::TooManyDecimals);
    }
    // Leading zeros carry no value, so they do not count against the size limit.
    let significant = int_part.trim_start_matches('0');
    if significant.len() > max_int_digits {
        return Err(PlainError::TooLarge);
    }
    // At most 16 + 6 = 22 digits reach this loop, far below the 38 an i128 holds,
    // so the accumulation cannot overflow.
    let mantissa = significant.bytes().chain(frac_part.bytes()).fold(0_i128, |acc, b| acc * 10 + i128::from(b - b'0'));
    let scale = u32::try_from(frac_part.len()).map_err(|_| PlainError::TooManyDecimals)?;
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| PlainError::TooLarge)
}

/// Builds the OpenAPI description of a value that travels as a JSON string.
fn string_schema(pattern: &str, example: &str, description: &str) -> RefOr<Schema> {
    // `example` is deprecated by OpenAPI 3.1 in favour of `examples`, but the
    // singular form is what Swagger UI uses to prefill "Try it out" bodies and
    // what the API documentation promises, so it is used on purpose.
    #[allow(deprecated)]
    let builder = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .example(Some(serde_json::Value::String(example.to_owned())))
        .description(Some(description));
    builder.build().into()
}

/// A serde visitor that accepts only strings and hands them to a parser.
///
/// Deserialisation goes through `deserialize_any` so that a JSON number reaches
/// this visitor and is refused with the type's own "must be a string" message,
/// instead of serde's generic "invalid type" wording.
struct StrictStrVisitor<T, E> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
    not_a_string: E,
    marker: PhantomData<T>,
}

impl<T, E> StrictStrVisitor<T, E> {
    fn new(expecting: &'static str, parse: fn(&str) -> Result<T, E>, not_a_string: E) -> Self {
        Self { expecting, parse, not_a_string, marker: PhantomData }
    }
}

impl<'de, T, E: fmt::Display> Visitor<'de> for StrictStrVisitor<T, E> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<DE: de::Error>(self, v: &str) -> Result<T, DE> {
        (self.parse)(v).map_err(DE::custom)
    }

    fn visit_string<DE: de::Error>(self, v: String) -> Result<T, DE> {
        self.visit_str(&v)
    }

    fn visit_bool<DE: de::Error>(self, _: bool) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_i64<DE: de::Error>(self, _: i64) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_u64<DE: de::Error>(self, _: u64) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_i128<DE: de::Error>(self, _: i128) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_u128<DE: de::Error>(self, _: u128) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    // The float is only received in order to be refused; it is never used.
    fn visit_f64<DE: de::Error>(self, _: f64) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_unit<DE: de::Error>(self) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_none<DE: de::Error>(self) -> Result<T, DE> {
        Err(DE::custom(self.not_a_string))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(de::Error::custom(self.not_a_string))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(de::Error::custom(self.not_a_string))
    }
}

/// An amount of CNY, exact to the fen.
///
/// Invariant: non-negative, scale exactly 2, at most 16 integer digits (so it
/// fits PostgreSQL `NUMERIC(18,2)`). There is deliberately no `From<f64>` and no
/// arithmetic operator: use [`Money::checked_add`], [`Money::checked_sub`],
/// [`Money::checked_sum`] and [`Money::times`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Money(Decimal);

impl Money {
    /// Zero yuan, "0.00".
    pub const ZERO: Money = Money(ZERO_DECIMAL);

    /// The largest representable amount, "9999999999999999.99".
    pub const MAX: Money = Money(MAX_DECIMAL);

    /// Parses the strict string form: digits, optionally '.' and one or two
    /// decimals ("1500", "1500.5", "1500.00", "0.01"). The result always has
    /// two decimals.
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        let d = parse_plain(s, MONEY_SCALE as usize, MONEY_MAX_INT_DIGITS).map_err(|e| match e {
            PlainError::Empty => MoneyError::Empty,
            PlainError::Malformed => MoneyError::Malformed,
            PlainError::Negative => MoneyError::Negative,
            PlainError::TooManyDecimals => MoneyError::TooManyDecimals,
            PlainError::TooLarge => MoneyError::TooLarge,
        })?;
        Money::from_decimal(d)
    }

    /// Accepts a decimal (typically read from the database) if it is a valid
    /// amount, normalising it to two decimals.
    ///
    /// Trailing zeros are not significant, so `1.230` is accepted as `1.23`;
    /// `1.234` is refused rather than rounded, because silently dropping a
    /// fraction of a fen would hide a bug upstream.
    pub fn from_decimal(d: Decimal) -> Result<Money, MoneyError> {
        // `-0` is zero, not a negative amount.
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative);
        }
        let normalised = d.normalize();
        if normalised.scale() > MONEY_SCALE {
            return Err(MoneyError::TooManyDecimals);
        }
        if normalised > MAX_DECIMAL {
            return Err(MoneyError::TooLarge);
        }
        let mut value = normalised;
        // The value has at most two decimals and at most 18 digits, so rescaling
        // to two decimals is exact.
        value.rescale(MONEY_SCALE);
        Ok(Money(value))
    }

    /// Builds an amount from a whole number of fen (1 yuan = 100 fen); handy in
    /// tests and in formulas that work in integer fen.
    pub fn from_fen(fen: i64) -> Result<Money, MoneyError> {
        if fen < 0 {
            return Err(MoneyError::Negative);
        }
        if i128::from(fen) > MAX_FEN {
            return Err(MoneyError::TooLarge);
        }
        Decimal::try_from_i128_with_scale(i128::from(fen), MONEY_SCALE).map(Money).map_err(|_| MoneyError::TooLarge)
    }

    /// The amount in whole fen (the scale is always 2, so this is exact).
    pub fn fen(&self) -> i128 {
        self.0.mantissa()
    }

    /// The amount as a decimal with scale 2, e.g. for storing in `NUMERIC(18,2)`.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, or `None` if the sum would exceed [`Money::MAX`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(|d| Money::from_decimal(d).ok())
    }

    /// `self - other`, or `None` if the result would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).and_then(|d| Money::from_decimal(d).ok())
    }

    /// The sum of all amounts, or `None` if it would exceed [`Money::MAX`].
    ///
    /// This replaces `std::iter::Sum`, whose signature has no way to report an
    /// overflow.
    pub fn checked_sum<I: IntoIterator<Item = Money>>(amounts: I) -> Option<Money> {
        amounts.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    /// `self × rate`, rounded to the fen half-up (away from zero at the midpoint,
    /// 四舍五入), which is the accounting convention; banker's rounding would
    /// surprise every treasurer reading the figures.
    pub fn times(self, rate: Rate) -> Money {
        // The mantissa of a Money is below 10^18 and that of a Rate is at most
        // 10^6 (1.000000), so the exact product is below 10^24, far inside the
        // 96-bit (about 7.9 × 10^28) mantissa of Decimal. The multiplication thus
        // never saturates and never has to round; `saturating_mul` is used only
        // because it is total, so no panic path exists.
        let product = self.0.saturating_mul(rate.0);
        let rounded = product.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero);
        // A rate of at most one cannot enlarge the amount, and rounding to the fen
        // cannot carry past an amount that is itself a whole number of fen, so
        // `self` is an upper bound of the result. Clamping to it states that bound
        // in code, which keeps the Money invariant without an unreachable panic.
        let mut value = rounded.min(self.0);
        value.rescale(MONEY_SCALE);
        Money(value)
    }

    /// `self × ratio`, rounded to the fen half-up like [`Money::times`], or
    /// `None` if the result would exceed [`Money::MAX`] (a ratio may be up to
    /// 1000, so unlike a [`Rate`] it can enlarge the amount).
    pub fn checked_times_ratio(self, ratio: Ratio) -> Option<Money> {
        // The mantissas are below 10^18 and at most 10^9 (1000.000000), so the
        // exact product stays below 10^27 and Decimal never rounds it.
        let product = self.0.checked_mul(ratio.0)?;
        let rounded = product.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero);
        Money::from_decimal(rounded).ok()
    }
}

impl fmt::Display for Money {
    /// Always two decimals: "1500.00", "0.05".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `write!` with a fresh "{}" ignores any precision the caller passed, so
        // the two decimals cannot be formatted away by accident.
        write!(f, "{}", self.0)
    }
}

impl Default for Money {
    /// Zero: no money is the only amount that needs no input.
    fn default() -> Self {
        Money::ZERO
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Same as [`Money::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    /// Serialises as a JSON string with two decimals, e.g. `"1500.00"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Deserialises only from a string in the [`Money::parse`] format; a JSON
    /// number is refused with [`MoneyError::NotAString`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictStrVisitor::new(
            "a money string with at most two decimals, like \"1500.00\"",
            Money::parse,
            MoneyError::NotAString,
        ))
    }
}

impl utoipa::PartialSchema for Money {
    /// A string with up to 16 integer digits and up to two decimals.
    fn schema() -> RefOr<Schema> {
        string_schema(r"^[0-9]{1,16}(\.[0-9]{1,2})?$", "1500.00", "CNY amount with two decimals, as a string")
    }
}

impl utoipa::ToSchema for Money {}

/// A figure of the books that can be negative: money spent beyond a line's budget, remitted
/// beyond what is due, a credit. Only ever read from the ledger and shown, never taken from a
/// request: what a caller sends is [`Money`]. Two decimals, at most 16 integer digits either way.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SignedMoney(Decimal);

impl SignedMoney {
    /// The figure `d`, exact to the fen.
    pub fn from_decimal(d: Decimal) -> Result<SignedMoney, MoneyError> {
        let magnitude = Money::from_decimal(d.abs())?;
        let mut value = magnitude.as_decimal();
        value.set_sign_negative(d.is_sign_negative() && !d.is_zero());
        Ok(SignedMoney(value))
    }

    /// The figure as a decimal with two places.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Whether the figure is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

impl From<Money> for SignedMoney {
    fn from(m: Money) -> Self {
        SignedMoney(m.as_decimal())
    }
}

impl fmt::Display for SignedMoney {
    /// Always two decimals, a minus sign when negative: "-1091830.00", "0.00".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for SignedMoney {
    /// A JSON string with two decimals, like [`Money`]: `"-1091830.00"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl utoipa::PartialSchema for SignedMoney {
    /// A string with an optional minus sign, up to 16 integer digits and two decimals.
    fn schema() -> RefOr<Schema> {
        string_schema(
            r"^-?[0-9]{1,16}\.[0-9]{2}$",
            "-1091830.00",
            "CNY figure with two decimals, as a string; negative where the books are over budget, over-paid or in credit",
        )
    }
}

impl utoipa::ToSchema for SignedMoney {}

/// Maps the shared parse errors onto [`RateError`], with `max` as the bound shown
/// for values that are too large.
fn rate_error(e: PlainError, max: &'static str) -> RateError {
    match e {
        PlainError::Empty => RateError::Empty,
        PlainError::Malformed => RateError::Malformed,
        PlainError::Negative => RateError::Negative,
        PlainError::TooManyDecimals => RateError::TooManyDecimals,
        PlainError::TooLarge => RateError::TooLarge { max },
    }
}

/// Checks a decimal against the rules shared by [`Rate`] and [`Ratio`] and
/// returns it normalised (trailing zeros stripped).
fn bounded_fraction(d: Decimal, max: Decimal, max_label: &'static str) -> Result<Decimal, RateError> {
    if d.is_sign_negative() && !d.is_zero() {
        return Err(RateError::Negative);
    }
    let normalised = d.normalize();
    if normalised.scale() as usize > RATE_MAX_DECIMALS {
        return Err(RateError::TooManyDecimals);
    }
    if normalised > max {
        return Err(RateError::TooLarge { max: max_label });
    }
    Ok(normalised)
}

/// A ratio in [0, 1] with at most six decimals: a fee rate ("0.02"), the share
/// remitted upwards ("0.40"), and so on.
///
/// The value is stored normalised (trailing zeros stripped), so "0.40" and "0.4"
/// are the same rate and both display as "0.4".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rate(Decimal);

impl Rate {
    /// The rate 0.
    pub const ZERO: Rate = Rate(Decimal::ZERO);

    /// The rate 1.
    pub const ONE: Rate = Rate(Decimal::ONE);

    /// Parses the strict string form: digits, optionally '.' and one to six
    /// decimals, with a value between 0 and 1 ("0.02", "0.40", "1").
    pub fn parse(s: &str) -> Result<Rate, RateError> {
        let d = parse_plain(s, RATE_MAX_DECIMALS, RATE_MAX_INT_DIGITS).map_err(|e| rate_error(e, "1"))?;
        Rate::from_decimal(d)
    }

    /// Accepts a decimal (typically read from the database) if it lies in
    /// [0, 1] and has at most six significant decimals.
    pub fn from_decimal(d: Decimal) -> Result<Rate, RateError> {
        bounded_fraction(d, Decimal::ONE, "1").map(Rate)
    }

    /// The rate as a normalised decimal.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Rate {
    /// The normalised decimal: "0.02", "0.4", "1".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// Same as [`Rate::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rate::parse(s)
    }
}

impl Serialize for Rate {
    /// Serialises as a JSON string, e.g. `"0.02"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    /// Deserialises only from a string in the [`Rate::parse`] format; a JSON
    /// number is refused with [`RateError::NotAString`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictStrVisitor::new(
            "a rate string between 0 and 1 with at most six decimals, like \"0.02\"",
            Rate::parse,
            RateError::NotAString,
        ))
    }
}

impl utoipa::PartialSchema for Rate {
    /// A string with a decimal between 0 and 1 and at most six decimals.
    fn schema() -> RefOr<Schema> {
        string_schema(
            r"^[0-9]{1,4}(\.[0-9]{1,6})?$",
            "0.02",
            "Rate between 0 and 1 with at most six decimals, as a string",
        )
    }
}

impl utoipa::ToSchema for Rate {}

/// A non-negative ratio up to 1000 with at most six decimals, such as a
/// matching ratio ("1.00" yuan matched per yuan raised), which may exceed 1.
///
/// Stored normalised like [`Rate`], so "1.00" displays as "1".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ratio(Decimal);

impl Ratio {
    /// The ratio 0.
    pub const ZERO: Ratio = Ratio(Decimal::ZERO);

    /// The ratio 1.
    pub const ONE: Ratio = Ratio(Decimal::ONE);

    /// Parses the strict string form: digits, optionally '.' and one to six
    /// decimals, with a value between 0 and 1000 ("1.00", "0.5", "2").
    pub fn parse(s: &str) -> Result<Ratio, RateError> {
        let d = parse_plain(s, RATE_MAX_DECIMALS, RATE_MAX_INT_DIGITS).map_err(|e| rate_error(e, "1000"))?;
        Ratio::from_decimal(d)
    }

    /// Accepts a decimal (typically read from the database) if it lies in
    /// [0, 1000] and has at most six significant decimals.
    pub fn from_decimal(d: Decimal) -> Result<Ratio, RateError> {
        bounded_fraction(d, RATIO_MAX, "1000").map(Ratio)
    }

    /// The ratio as a normalised decimal.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Ratio {
    /// The normalised decimal: "1", "0.5", "2.25".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Ratio {
    type Err = RateError;

    /// Same as [`Ratio::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ratio::parse(s)
    }
}

impl Serialize for Ratio {
    /// Serialises as a JSON string, e.g. `"1"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ratio {
    /// Deserialises only from a string in the [`Ratio::parse`] format; a JSON
    /// number is refused with [`RateError::NotAString`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictStrVisitor::new(
            "a ratio string between 0 and 1000 with at most six decimals, like \"1.00\"",
            Ratio::parse,
            RateError::NotAString,
        ))
    }
}

impl utoipa::PartialSchema for Ratio {
    /// A string with a decimal between 0 and 1000 and at most six decimals.
    fn schema() -> RefOr<Schema> {
        string_schema(
            r"^[0-9]{1,4}(\.[0-9]{1,6})?$",
            "1.00",
            "Non-negative ratio up to 1000 with at most six decimals, as a string",
        )
    }
}

impl utoipa::ToSchema for Ratio {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn r(s: &str) -> Rate {
        Rate::parse(s).unwrap()
    }

    #[test]
    fn parse_accepts_plain_amounts_and_always_has_two_decimals() {
        for (input, shown) in [
            ("1500", "1500.00"),
            ("1500.5", "1500.50"),
            ("1500.00", "1500.00"),
            ("0.01", "0.01"),
            ("0", "0.00"),
            ("0.00", "0.00"),
            ("0001.10", "1.10"),
            ("9999999999999999.99", "9999999999999999.99"),
        ] {
            let money = Money::parse(input).unwrap();
            assert_eq!(money.as_decimal().scale(), 2, "{input}");
            assert_eq!(money.to_string(), shown, "{input}");
            assert_eq!(input.parse::<Money>().unwrap(), money);
        }
    }

    #[test]
    fn parse_refuses_everything_else_with_the_right_error() {
        for (input, error) in [
            ("1500.001", MoneyError::TooManyDecimals),
            ("1500.000", MoneyError::TooManyDecimals),
            ("-1", MoneyError::Negative),
            ("-0.01", MoneyError::Negative),
            ("1e3", MoneyError::Malformed),
            (" 1", MoneyError::Malformed),
            ("1 ", MoneyError::Malformed),
            ("", MoneyError::Empty),
            ("1,000.00", MoneyError::Malformed),
            ("+1", MoneyError::Malformed),
            (".5", MoneyError::Malformed),
            ("1.", MoneyError::Malformed),
            ("1.2.3", MoneyError::Malformed),
            ("١٢", MoneyError::Malformed),
            ("NaN", MoneyError::Malformed),
            ("10000000000000000", MoneyError::TooLarge),
            ("10000000000000000.00", MoneyError::TooLarge),
            ("99999999999999999999999999999999999999999", MoneyError::TooLarge),
        ] {
            assert_eq!(Money::parse(input), Err(error), "{input:?}");
        }
    }

    #[test]
    fn error_messages_are_fit_for_api_users() {
        assert_eq!(MoneyError::NotAString.to_string(), "must be a string with at most two decimals, like \"1500.00\"");
        assert_eq!(MoneyError::Negative.to_string(), "must not be negative");
        assert_eq!(RateError::TooLarge { max: "1" }.to_string(), "must not be greater than 1");
    }

    #[test]
    fn from_decimal_normalises_and_checks() {
        assert_eq!(Money::from_decimal(Decimal::new(1230, 3)).unwrap(), m("1.23"));
        assert_eq!(Money::from_decimal(Decimal::new(1230, 3)).unwrap().as_decimal().scale(), 2);
        assert_eq!(Money::from_decimal(Decimal::new(15, 0)).unwrap().to_string(), "15.00");
        assert_eq!(Money::from_decimal(Decimal::new(1234, 3)), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::from_decimal(Decimal::new(-1, 2)), Err(MoneyError::Negative));
        assert_eq!(Money::from_decimal(Decimal::new(-0, 2)).unwrap(), Money::ZERO);
        assert_eq!(Money::from_decimal(Decimal::new(10_000_000_000_000_000, 0)), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_decimal(MAX_DECIMAL).unwrap(), Money::MAX);
    }

    #[test]
    fn from_fen_and_constants() {
        assert_eq!(Money::from_fen(150_000).unwrap(), m("1500"));
        assert_eq!(Money::from_fen(0).unwrap(), Money::ZERO);
        assert_eq!(Money::from_fen(-1), Err(MoneyError::Negative));
        assert_eq!(Money::from_fen(1_000_000_000_000_000_000), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_fen(999_999_999_999_999_999).unwrap(), Money::MAX);
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert!(Money::ZERO.is_zero());
        assert!(!m("0.01").is_zero());
        assert_eq!(Money::MAX.to_string(), "9999999999999999.99");
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(m("1.10").checked_add(m("2.20")), Some(m("3.30")));
        assert_eq!(Money::MAX.checked_add(m("0.01")), None);
        assert_eq!(Money::MAX.checked_add(Money::ZERO), Some(Money::MAX));
        assert_eq!(m("5").checked_sub(m("5")), Some(Money::ZERO));
        assert_eq!(m("5").checked_sub(m("5")).unwrap().to_string(), "0.00");
        assert_eq!(m("5").checked_sub(m("5.01")), None);
        assert_eq!(m("5").checked_sub(m("0.01")), Some(m("4.99")));
        assert_eq!(Money::checked_sum([m("0.10"), m("0.20"), m("1500")]), Some(m("1500.30")));
        assert_eq!(Money::checked_sum(Vec::new()), Some(Money::ZERO));
        assert_eq!(Money::checked_sum([Money::MAX, m("0.01")]), None);
    }

    #[test]
    fn times_rounds_half_up_to_the_fen() {
        for (amount, rate, expected) in [
            ("123456.78", "0.02", "2469.14"),
            ("2469.14", "0.40", "987.66"),
            ("0.25", "0.02", "0.01"),
            ("0.24", "0.02", "0.00"),
            ("0.01", "0.02", "0.00"),
            ("99999999999.99", "0.02", "2000000000.00"),
            ("1500", "0", "0.00"),
            ("0", "0.5", "0.00"),
        ] {
            let result = m(amount).times(r(rate));
            assert_eq!(result.to_string(), expected, "{amount} × {rate}");
            assert_eq!(result.as_decimal().scale(), 2);
        }
        assert_eq!(Money::MAX.times(Rate::ONE), Money::MAX);
        assert_eq!(Money::MAX.times(r("0.999999")).to_string(), "9999989999999999.99");
        assert_eq!(Money::MAX.times(Rate::ZERO), Money::ZERO);
    }

    #[test]
    fn times_ratio_can_grow_but_not_overflow() {
        let ratio = Ratio::parse("1.5").unwrap();
        assert_eq!(m("0.03").checked_times_ratio(ratio), Some(m("0.05")));
        assert_eq!(m("100").checked_times_ratio(Ratio::ONE), Some(m("100")));
        let max_ratio = Ratio::parse("1000").unwrap();
        assert_eq!(Money::MAX.checked_times_ratio(max_ratio), None);
        assert_eq!(m("9999999999999.99").checked_times_ratio(max_ratio), Some(m("9999999999999990.00")));
    }

    #[test]
    fn json_is_a_string_only() {
        assert_eq!(serde_json::to_string(&m("1500")).unwrap(), "\"1500.00\"");
        assert_eq!(serde_json::from_str::<Money>("\"1500.00\"").unwrap(), m("1500"));
        assert_eq!(serde_json::from_str::<Money>("\"1500.5\"").unwrap(), m("1500.50"));

        let number = serde_json::from_str::<Money>("1500").unwrap_err().to_string();
        assert!(number.contains(&MoneyError::NotAString.to_string()), "{number}");
        let float = serde_json::from_str::<Money>("1500.5").unwrap_err().to_string();
        assert!(float.contains(&MoneyError::NotAString.to_string()), "{float}");
        assert!(serde_json::from_str::<Money>("null").is_err());
        assert!(serde_json::from_str::<Money>("true").is_err());

        let decimals = serde_json::from_str::<Money>("\"1500.001\"").unwrap_err().to_string();
        assert!(decimals.contains(&MoneyError::TooManyDecimals.to_string()), "{decimals}");

        // An owned string (from a `serde_json::Value`) goes through the same parser.
        let value = serde_json::Value::String("0.05".to_owned());
        assert_eq!(serde_json::from_value::<Money>(value).unwrap(), m("0.05"));
        assert!(serde_json::from_value::<Money>(serde_json::json!(5)).is_err());
    }

    #[test]
    fn optional_money_in_a_struct() {
        #[derive(Deserialize)]
        struct Body {
            amount: Option<Money>,
        }
        let body: Body = serde_json::from_str(r#"{"amount":"1.00"}"#).unwrap();
        assert_eq!(body.amount, Some(m("1")));
        let body: Body = serde_json::from_str(r#"{"amount":null}"#).unwrap();
        assert_eq!(body.amount, None);
        assert!(serde_json::from_str::<Body>(r#"{"amount":1}"#).is_err());
    }

    #[test]
    fn money_schema_is_a_patterned_string() {
        let schema = serde_json::to_value(<Money as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({
                "type": "string",
                "pattern": "^[0-9]{1,16}(\\.[0-9]{1,2})?$",
                "example": "1500.00",
                "description": "CNY amount with two decimals, as a string"
            })
        );
        assert_eq!(<Money as utoipa::ToSchema>::name(), "Money");
        let rate = serde_json::to_value(<Rate as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(rate["example"], "0.02");
        let ratio = serde_json::to_value(<Ratio as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(ratio["example"], "1.00");
    }

    #[test]
    fn rate_parsing_and_display() {
        assert_eq!(r("0.02").to_string(), "0.02");
        assert_eq!(r("0.40").to_string(), "0.4");
        assert_eq!(r("0.40"), r("0.4"));
        assert_eq!(r("1.0"), Rate::ONE);
        assert_eq!(r("1.000000"), Rate::ONE);
        assert_eq!(r("0"), Rate::ZERO);
        assert_eq!(Rate::ONE.to_string(), "1");
        assert_eq!(r("0.000001").as_decimal(), Decimal::new(1, 6));
        for (input, error) in [
            ("", RateError::Empty),
            ("-0.1", RateError::Negative),
            ("1.000001", RateError::TooLarge { max: "1" }),
            ("2", RateError::TooLarge { max: "1" }),
            ("123456789", RateError::TooLarge { max: "1" }),
            ("0.0000001", RateError::TooManyDecimals),
            ("2%", RateError::Malformed),
            ("0,02", RateError::Malformed),
            (".02", RateError::Malformed),
            ("2e-2", RateError::Malformed),
        ] {
            assert_eq!(Rate::parse(input), Err(error), "{input:?}");
        }
        assert_eq!(Rate::from_decimal(Decimal::new(4000, 4)).unwrap(), r("0.4"));
        assert_eq!(Rate::from_decimal(Decimal::new(-1, 2)), Err(RateError::Negative));
    }

    #[test]
    fn ratio_parsing_and_display() {
        assert_eq!(Ratio::parse("1.00").unwrap(), Ratio::ONE);
        assert_eq!(Ratio::parse("1.00").unwrap().to_string(), "1");
        assert_eq!(Ratio::parse("2.5").unwrap().to_string(), "2.5");
        assert_eq!(Ratio::parse("1000").unwrap().as_decimal(), RATIO_MAX);
        assert_eq!(Ratio::parse("0").unwrap(), Ratio::ZERO);
        assert_eq!(Ratio::parse("1000.000001"), Err(RateError::TooLarge { max: "1000" }));
        assert_eq!(Ratio::parse("12345"), Err(RateError::TooLarge { max: "1000" }));
        assert_eq!(Ratio::parse("-1"), Err(RateError::Negative));
        assert_eq!(Ratio::parse("1.0000001"), Err(RateError::TooManyDecimals));
    }

    #[test]
    fn rate_and_ratio_json() {
        assert_eq!(serde_json::to_string(&r("0.02")).unwrap(), "\"0.02\"");
        assert_eq!(serde_json::from_str::<Rate>("\"0.40\"").unwrap(), r("0.4"));
        let number = serde_json::from_str::<Rate>("0.02").unwrap_err().to_string();
        assert!(number.contains(&RateError::NotAString.to_string()), "{number}");
        assert!(serde_json::from_str::<Rate>("\"1.5\"").is_err());
        assert_eq!(serde_json::from_str::<Ratio>("\"1.5\"").unwrap(), Ratio::parse("1.5").unwrap());
        assert!(serde_json::from_str::<Ratio>("1").is_err());
        assert_eq!(serde_json::to_string(&Ratio::ONE).unwrap(), "\"1\"");
    }

    /// The exact product `fen × (rate_mantissa / 10^k)` rounded half-up to the
    /// fen, computed in integers so that it shares no code with `times`.
    fn expected_times_fen(fen: i128, rate_mantissa: i128, k: u32) -> i128 {
        let divisor = 10_i128.pow(k);
        (fen * rate_mantissa + divisor / 2) / divisor
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(fen in 0_i64..=1_000_000_000_000_000) {
            let money = Money::from_fen(fen).unwrap();
            let shown = money.to_string();
            prop_assert_eq!(shown.split_once('.').map(|(_, frac)| frac.len()), Some(2));
            prop_assert_eq!(Money::parse(&shown), Ok(money));
        }

        #[test]
        fn times_matches_integer_half_up(
            fen in 0_i64..10_000_000_000_000,
            (k, rate_mantissa) in (0_u32..=4).prop_flat_map(|k| (Just(k), 0_i64..=10_i64.pow(k))),
        ) {
            let rate = Rate::from_decimal(Decimal::new(rate_mantissa, k)).unwrap();
            let result = Money::from_fen(fen).unwrap().times(rate);
            let expected_fen = expected_times_fen(i128::from(fen), i128::from(rate_mantissa), k);
            prop_assert_eq!(result.as_decimal().mantissa(), expected_fen);
            prop_assert_eq!(result.as_decimal().scale(), 2);
        }

        #[test]
        fn checked_sub_is_none_exactly_when_it_would_go_negative(
            a in 0_i64..=999_999_999_999_999_999,
            b in 0_i64..=999_999_999_999_999_999,
        ) {
            let (a, b) = (Money::from_fen(a).unwrap(), Money::from_fen(b).unwrap());
            prop_assert_eq!(a.checked_sub(b).is_none(), b > a);
        }

        #[test]
        fn checked_add_matches_integer_sum(
            a in 0_i64..=999_999_999_999_999_999,
            b in 0_i64..=999_999_999_999_999_999,
        ) {
            let sum = i128::from(a) + i128::from(b);
            let result = Money::from_fen(a).unwrap().checked_add(Money::from_fen(b).unwrap());
            prop_assert_eq!(result.map(|m| m.as_decimal().mantissa()), (sum <= MAX_FEN).then_some(sum));
        }
    }

    #[test]
    fn a_signed_figure_keeps_its_sign_and_two_decimals() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let over = SignedMoney::from_decimal(d("-1091830")).unwrap();
        assert_eq!(over.to_string(), "-1091830.00");
        assert!(over.is_negative());
        assert_eq!(serde_json::to_string(&over).unwrap(), "\"-1091830.00\"");
        assert_eq!(SignedMoney::from_decimal(d("-0.00")).unwrap().to_string(), "0.00");
        assert_eq!(SignedMoney::from_decimal(d("12.5")).unwrap().to_string(), "12.50");
        assert_eq!(SignedMoney::from_decimal(d("-10000000000000000.00")), Err(MoneyError::TooLarge));
        assert_eq!(SignedMoney::from_decimal(d("-0.001")), Err(MoneyError::TooManyDecimals));
    }
}
