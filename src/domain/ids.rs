//! Validated identifiers: parse, don't validate.
//!
//! Each type here can only be built by parsing, so a value of the type is proof
//! that the identifier is well formed and its check character matches. Code
//! further in never has to re-check, and a typo in a member's identity number or
//! a union's credit code is caught at the API boundary with a message the user
//! can act on.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Ids of the service's own objects, one type per kind of object, so that a use case taking a
/// fund and an item cannot be handed them the other way round. Each is a UUID on the wire and
/// in the database (`db` takes the `Uuid` inside).
macro_rules! object_ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// The UUID inside.
            pub const fn uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

object_ids! {
    /// An organisation (the federation, a township union, a grassroots union, a member unit).
    OrgId;
    /// A fund.
    FundId;
    /// An item: an allocation followed through its four stages.
    ItemId;
    /// A hardship application.
    ApplicationId;
    /// A township grant.
    GrantId;
    /// A hardship campaign.
    CampaignId;
    /// A budget line.
    LineId;
    /// A person who signs in.
    UserId;
    /// A system client (the finance bureau's).
    ClientId;
}

/// Both national identifiers are 18 characters long.
const ID_LEN: usize = 18;

/// GB 11643-1999 weights for positions 1..17 (2^(18-i) mod 11).
const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643-1999 check characters, indexed by the weighted sum mod 11.
const RESIDENT_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// GB 32100-2015 alphabet: digits and upper-case letters without I, O, Z, S and V,
/// which are too easily confused with 1, 0, 2, 5 and U. A character's value is
/// its index here.
const CREDIT_ALPHABET: [char; 31] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N',
    'P', 'Q', 'R', 'T', 'U', 'W', 'X', 'Y',
];

/// GB 32100-2015 weights for positions 1..17 (3^(i-1) mod 31).
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Birth years accepted in a resident identity number; anything outside is a typo.
const BIRTH_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// Years accepted in a [`Period`]; the federation's books start in 2000.
const PERIOD_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// Why a string is not an acceptable identifier.
///
/// The messages are written for API users: they are shown next to the field
/// name in a validation error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A resident identity number or credit code that is not 18 characters long.
    #[error("must be 18 characters")]
    WrongLength,
    /// A resident identity number with something other than 17 digits and a final digit or X.
    #[error("must be 17 digits followed by a digit or X")]
    ResidentBadCharacter,
    /// A resident identity number whose characters 7–14 are not a real date.
    #[error("characters 7 to 14 must be a valid birth date (YYYYMMDD, year 1900 to 2100)")]
    BadBirthDate,
    /// A resident identity number whose last character does not match the others.
    #[error("check character does not match (GB 11643)")]
    ResidentBadCheck,
    /// A credit code with a character outside the GB 32100 alphabet.
    #[error("may contain only digits and the letters A–Y except I, O, S, V (GB 32100)")]
    CreditBadCharacter,
    /// A credit code whose last character does not match the others.
    #[error("check character does not match (GB 32100)")]
    CreditBadCheck,
    /// A period that is not of the form "YYYY-MM".
    #[error("must be a month like \"2022-01\" (YYYY-MM)")]
    PeriodMalformed,
    /// A period whose year is outside 2000..=2100.
    #[error("year must be between 2000 and 2100")]
    PeriodYearOutOfRange,
    /// A period whose month is outside 01..=12.
    #[error("month must be between 01 and 12")]
    PeriodMonthOutOfRange,
    /// A date standing for a period that is not the first day of its month (periods are
    /// stored as their first day).
    #[error("must be the first day of a month")]
    PeriodNotFirstDay,
}

/// Builds the OpenAPI description of a value that travels as a JSON string.
fn string_schema(pattern: &str, example: &str, description: &str) -> RefOr<Schema> {
    // `example` is deprecated by OpenAPI 3.1 in favour of `examples`, but the
    // singular form is what Swagger UI uses to prefill "Try it out" bodies, so it
    // is used on purpose.
    #[allow(deprecated)]
    let builder = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .example(Some(serde_json::Value::String(example.to_owned())))
        .description(Some(description));
    builder.build().into()
}

/// A serde visitor that takes a string and hands it to a parser, so that every
/// identifier is validated exactly once, on the way in.
struct ParseVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, IdError>,
}

impl<T> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

/// The numeric value of an ASCII digit, or `None` for anything else.
fn digit_value(c: char) -> Option<u32> {
    c.to_digit(10)
}

/// The GB 11643 check character for the first 17 characters of a resident
/// identity number, or `None` if they are not exactly 17 ASCII digits.
fn resident_check(first17: &[char]) -> Option<char> {
    if first17.len() != RESIDENT_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0_u32;
    for (&c, &weight) in first17.iter().zip(RESIDENT_WEIGHTS.iter()) {
        sum += digit_value(c)? * weight;
    }
    // `sum % 11` is below 11, so the index is always in bounds.
    RESIDENT_CHECK.get(usize::try_from(sum % 11).ok()?).copied()
}

/// The value of a character in the GB 32100 alphabet, ignoring case.
fn credit_value(c: char) -> Option<u32> {
    let upper = c.to_ascii_uppercase();
    let index = CREDIT_ALPHABET.iter().position(|&a| a == upper)?;
    u32::try_from(index).ok()
}

/// The GB 32100 check character for the first 17 characters of a credit code,
/// or `None` if they are not exactly 17 characters of the alphabet.
fn credit_check(first17: &[char]) -> Option<char> {
    if first17.len() != CREDIT_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0_u32;
    for (&c, &weight) in first17.iter().zip(CREDIT_WEIGHTS.iter()) {
        sum += credit_value(c)? * weight;
    }
    // The standard computes 31 − (sum mod 31) and maps 31 to 0; that is the same
    // as (31 − sum mod 31) mod 31, which is always a valid index.
    let value = (31 - sum % 31) % 31;
    CREDIT_ALPHABET.get(usize::try_from(value).ok()?).copied()
}

/// An 18-character PRC resident identity number (GB 11643-1999).
///
/// The number is personal data: `Debug` and `Display` print only the masked
/// form (see [`ResidentId::masked`]) so that it cannot leak into a log by
/// accident, and there is deliberately no `Serialize`; code that must send or
/// store the whole number calls [`ResidentId::expose`], which is easy to grep.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId(String);

impl ResidentId {
    /// Parses and validates a resident identity number: 17 digits, a real birth
    /// date in characters 7–14, and a matching check character (a digit or X;
    /// a lower-case x is accepted and stored upper-case).
    pub fn parse(s: &str) -> Result<ResidentId, IdError> {
        let chars: Vec<char> = s.chars().map(|c| c.to_ascii_uppercase()).collect();
        if chars.len() != ID_LEN {
            return Err(IdError::WrongLength);
        }
        let (first17, last) = chars.split_at(ID_LEN - 1);
        let last_ok = last.iter().all(|&c| c.is_ascii_digit() || c == 'X');
        if !first17.iter().all(char::is_ascii_digit) || !last_ok {
            return Err(IdError::ResidentBadCharacter);
        }
        if birth_date(first17).is_none() {
            return Err(IdError::BadBirthDate);
        }
        if resident_check(first17) != last.first().copied() {
            return Err(IdError::ResidentBadCheck);
        }
        Ok(ResidentId(chars.into_iter().collect()))
    }

    /// The birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        let chars: Vec<char> = self.0.chars().collect();
        // Parsing already checked the date, so the fallback is never used; it
        // exists only so that this accessor has no panic path.
        birth_date(&chars).unwrap_or(NaiveDate::MIN)
    }

    /// The whole number. Named so that every place the unmasked number leaves
    /// this type can be found with a search for `expose`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first four and last four characters with ten asterisks in between,
    /// e.g. "4309**********1234": enough to recognise a record, not enough to
    /// identify a person.
    pub fn masked(&self) -> String {
        let head = self.0.chars().take(4);
        let tail = self.0.chars().skip(ID_LEN - 4);
        head.chain(std::iter::repeat_n('*', 10)).chain(tail).collect()
    }

    /// The GB 11643 check character for 17 leading digits, or `None` if the
    /// input is not exactly 17 ASCII digits. Useful for generating test data.
    pub fn check_char(first17: &str) -> Option<char> {
        let chars: Vec<char> = first17.chars().collect();
        resident_check(&chars)
    }
}

/// The birth date in characters 7–14 (YYYYMMDD), if it is a real date with a
/// plausible year.
fn birth_date(chars: &[char]) -> Option<NaiveDate> {
    let field = chars.get(6..14)?;
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        field.get(range)?.iter().try_fold(0_u32, |acc, &c| Some(acc * 10 + digit_value(c)?))
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    if !BIRTH_YEARS.contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, number(4..6)?, number(6..8)?)
}

impl fmt::Debug for ResidentId {
    /// Prints `ResidentId("4309**********1234")`, never the whole number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

impl fmt::Display for ResidentId {
    /// Prints the masked form, never the whole number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for ResidentId {
    type Err = IdError;

    /// Same as [`ResidentId::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResidentId::parse(s)
    }
}

impl<'de> Deserialize<'de> for ResidentId {
    /// Deserialises from a string via [`ResidentId::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor {
            expecting: "an 18-character resident identity number",
            parse: ResidentId::parse,
        })
    }
}

impl utoipa::PartialSchema for ResidentId {
    /// A string of 17 digits and a digit or X.
    fn schema() -> RefOr<Schema> {
        // The example is the specimen number printed in GB 11643-1999 itself,
        // so it belongs to nobody.
        string_schema(
            "^[0-9]{17}[0-9Xx]$",
            "11010519491231002X",
            "PRC resident identity number (GB 11643-1999), 18 characters",
        )
    }
}

impl utoipa::ToSchema for ResidentId {}

/// An 18-character unified social credit code (统一社会信用代码, GB 32100-2015),
/// stored upper-case. Not secret: it is printed on every business licence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses and validates a credit code: 18 characters of the GB 32100
    /// alphabet (lower case accepted and upper-cased) with a matching check
    /// character.
    pub fn parse(s: &str) -> Result<CreditCode, IdError> {
        let chars: Vec<char> = s.chars().map(|c| c.to_ascii_uppercase()).collect();
        if chars.len() != ID_LEN {
            return Err(IdError::WrongLength);
        }
        if !chars.iter().all(|&c| credit_value(c).is_some()) {
            return Err(IdError::CreditBadCharacter);
        }
        let (first17, last) = chars.split_at(ID_LEN - 1);
        if credit_check(first17) != last.first().copied() {
            return Err(IdError::CreditBadCheck);
        }
        Ok(CreditCode(chars.into_iter().collect()))
    }

    /// The code, upper-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GB 32100 check character for the first 17 characters, or `None` if
    /// they are not exactly 17 characters of the alphabet (either case). Useful
    /// for generating test data.
    pub fn check_char(first17: &str) -> Option<char> {
        let chars: Vec<char> = first17.chars().collect();
        credit_check(&chars)
    }
}

impl fmt::Display for CreditCode {
    /// Prints the code, upper-case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CreditCode {
    type Err = IdError;

    /// Same as [`CreditCode::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(s)
    }
}

impl Serialize for CreditCode {
    /// Serialises as the upper-case string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CreditCode {
    /// Deserialises from a string via [`CreditCode::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor {
            expecting: "an 18-character unified social credit code",
            parse: CreditCode::parse,
        })
    }
}

impl utoipa::PartialSchema for CreditCode {
    /// A string of 18 characters of the GB 32100 alphabet.
    fn schema() -> RefOr<Schema> {
        string_schema(
            "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$",
            "91350100M000100Y43",
            "Unified social credit code (GB 32100-2015), 18 characters, case-insensitive",
        )
    }
}

impl utoipa::ToSchema for CreditCode {}

/// A calendar month, written "YYYY-MM" (e.g. "2022-01"), with a year in
/// 2000..=2100. Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    // Field order matters: the derived `Ord` compares the year first.
    year: i32,
    month: u32,
}

impl Period {
    /// A period from its parts, if the year is in 2000..=2100 and the month in 1..=12.
    pub fn new(year: i32, month: u32) -> Result<Period, IdError> {
        if !PERIOD_YEARS.contains(&year) {
            return Err(IdError::PeriodYearOutOfRange);
        }
        if !(1..=12).contains(&month) {
            return Err(IdError::PeriodMonthOutOfRange);
        }
        Ok(Period { year, month })
    }

    /// Parses exactly "YYYY-MM": four digits, a hyphen, two digits.
    pub fn parse(s: &str) -> Result<Period, IdError> {
        let bytes = s.as_bytes();
        let shape_ok = bytes.len() == 7
            && bytes.get(4) == Some(&b'-')
            && bytes.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit());
        if !shape_ok {
            return Err(IdError::PeriodMalformed);
        }
        // The shape check guarantees ASCII digits, so these slices and parses succeed.
        let year = s.get(0..4).and_then(|y| y.parse::<i32>().ok());
        let month = s.get(5..7).and_then(|m| m.parse::<u32>().ok());
        match (year, month) {
            (Some(year), Some(month)) => Period::new(year, month),
            _ => Err(IdError::PeriodMalformed),
        }
    }

    /// The year, 2000..=2100.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(&self) -> NaiveDate {
        // Every (year, month) a Period can hold has a first day, so the fallback
        // is never used; it exists only so that this accessor has no panic path.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The period whose first day is `day` — how a stored period (a `date`, the month's first
    /// day) is read back. Any other day is refused rather than rounded to its month: a stored
    /// period that is not a first day is a bug or a tampered row.
    pub fn from_first_day(day: NaiveDate) -> Result<Period, IdError> {
        if day.day() != 1 {
            return Err(IdError::PeriodNotFirstDay);
        }
        // `Datelike::month` is 1..=12, so only the year can be out of range.
        Period::new(day.year(), day.month())
    }
}

impl fmt::Display for Period {
    /// Prints "YYYY-MM", e.g. "2022-01".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = IdError;

    /// Same as [`Period::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::parse(s)
    }
}

impl Serialize for Period {
    /// Serialises as "YYYY-MM".
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    /// Deserialises from a string via [`Period::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor { expecting: "a month like \"2022-01\"", parse: Period::parse })
    }
}

impl utoipa::PartialSchema for Period {
    /// A "YYYY-MM" string.
    fn schema() -> RefOr<Schema> {
        string_schema("^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$", "2022-01", "Calendar month as YYYY-MM, year 2000 to 2100")
    }
}

impl utoipa::ToSchema for Period {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_object_id_is_its_uuid_on_the_wire_and_in_text() {
        let u = uuid::Uuid::parse_str("0190a6d4-0000-7000-8000-000000000001").unwrap();
        let id = FundId::from(u);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0190a6d4-0000-7000-8000-000000000001\"");
        assert_eq!(serde_json::from_str::<FundId>("\"0190a6d4-0000-7000-8000-000000000001\"").unwrap(), id);
        assert_eq!(id.to_string(), u.to_string());
        assert_eq!(uuid::Uuid::from(id), u);
        assert!(serde_json::from_str::<ItemId>("\"not-a-uuid\"").is_err());
    }
    use proptest::prelude::*;

    /// The specimen number printed in GB 11643-1999.
    const SPECIMEN: &str = "11010519491231002X";

    /// Builds a valid resident identity number from 17 digits.
    fn resident(first17: &str) -> String {
        format!("{first17}{}", ResidentId::check_char(first17).unwrap())
    }

    #[test]
    fn specimen_resident_id_is_valid() {
        let id = ResidentId::parse(SPECIMEN).unwrap();
        assert_eq!(id.expose(), SPECIMEN);
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(ResidentId::check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn lower_case_x_is_accepted_and_stored_upper_case() {
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(id.expose(), SPECIMEN);
    }

    #[test]
    fn resident_id_errors() {
        let valid = resident("43098119900307123");
        assert!(ResidentId::parse(&valid).is_ok());
        for (input, error) in [
            ("", IdError::WrongLength),
            ("11010519491231002", IdError::WrongLength),
            ("11010519491231002X0", IdError::WrongLength),
            ("1101051949123100２X", IdError::ResidentBadCharacter),
            ("1101051949123100AX", IdError::ResidentBadCharacter),
            ("11010519491231002Y", IdError::ResidentBadCharacter),
            ("X10105194912310021", IdError::ResidentBadCharacter),
            (" 1010519491231002X", IdError::ResidentBadCharacter),
            ("110105194902300021", IdError::BadBirthDate),
            ("110105189912310021", IdError::BadBirthDate),
            ("110105210101010021", IdError::BadBirthDate),
            ("110105199013010021", IdError::BadBirthDate),
            ("110105199000010021", IdError::BadBirthDate),
            ("110105194912310021", IdError::ResidentBadCheck),
        ] {
            assert_eq!(ResidentId::parse(input), Err(error), "{input:?}");
        }
        // 29 February exists only in leap years.
        assert!(ResidentId::parse(&resident("11010520000229002")).is_ok());
        assert_eq!(ResidentId::parse(&resident("11010519000229002")), Err(IdError::BadBirthDate));
        assert!(ResidentId::parse(&resident("11010521001231002")).is_ok());
    }

    #[test]
    fn resident_id_never_prints_the_whole_number() {
        let id = ResidentId::parse(&resident("43098119900307123")).unwrap();
        let middle = &id.expose()[4..14];
        assert_eq!(id.masked(), format!("4309**********{}", &id.expose()[14..]));
        let debug = format!("{id:?}");
        let display = format!("{id}");
        let pretty = format!("{id:#?}");
        for printed in [&debug, &display, &pretty] {
            assert!(!printed.contains(middle), "{printed}");
            assert!(!printed.contains(id.expose()), "{printed}");
        }
        assert_eq!(display, id.masked());
        assert_eq!(debug, format!("ResidentId({:?})", id.masked()));
    }

    #[test]
    fn resident_id_check_char_refuses_bad_input() {
        assert_eq!(ResidentId::check_char("1101051949123100"), None);
        assert_eq!(ResidentId::check_char("110105194912310021"), None);
        assert_eq!(ResidentId::check_char("1101051949123100A"), None);
    }

    #[test]
    fn resident_id_deserialises_via_parse() {
        let id: ResidentId = serde_json::from_str(&format!("\"{SPECIMEN}\"")).unwrap();
        assert_eq!(id.expose(), SPECIMEN);
        let err = serde_json::from_str::<ResidentId>("\"110105194912310021\"").unwrap_err().to_string();
        assert!(err.contains("check character does not match (GB 11643)"), "{err}");
        assert!(serde_json::from_str::<ResidentId>("110105194912310021").is_err());
    }

    #[test]
    fn known_credit_codes_are_valid() {
        // Both codes were given as known-valid examples; each was checked with this
        // implementation and, independently, with a few lines of Python computing
        // c = 31 − (Σ value × weight mod 31), so the test is not circular.
        for code in ["91350100M000100Y43", "91110000600037341L"] {
            let parsed = CreditCode::parse(code).unwrap();
            assert_eq!(parsed.as_str(), code);
            assert_eq!(parsed.to_string(), code);
        }
        assert_eq!(CreditCode::check_char("91350100M000100Y4"), Some('3'));
        assert_eq!(CreditCode::check_char("91110000600037341"), Some('L'));
    }

    #[test]
    fn credit_code_lower_case_is_accepted_and_upper_cased() {
        let code = CreditCode::parse("91350100m000100y43").unwrap();
        assert_eq!(code.as_str(), "91350100M000100Y43");
        assert_eq!(CreditCode::check_char("91350100m000100y4"), Some('3'));
    }

    #[test]
    fn credit_code_errors() {
        for (input, error) in [
            ("", IdError::WrongLength),
            ("91350100M000100Y4", IdError::WrongLength),
            ("91350100M000100Y433", IdError::WrongLength),
            ("91350100I000100Y43", IdError::CreditBadCharacter),
            ("91350100O000100Y43", IdError::CreditBadCharacter),
            ("91350100S000100Y43", IdError::CreditBadCharacter),
            ("91350100V000100Y43", IdError::CreditBadCharacter),
            ("91350100Z000100Y43", IdError::CreditBadCharacter),
            ("91350100-000100Y43", IdError::CreditBadCharacter),
            ("91350100M000100Y44", IdError::CreditBadCheck),
            ("91350100M000100Y4I", IdError::CreditBadCharacter),
        ] {
            assert_eq!(CreditCode::parse(input), Err(error), "{input:?}");
        }
        assert_eq!(CreditCode::check_char("91350100I000100Y4"), None);
        assert_eq!(CreditCode::check_char("91350100M000100Y"), None);
    }

    #[test]
    fn credit_code_json() {
        let code = CreditCode::parse("91110000600037341L").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"91110000600037341L\"");
        let back: CreditCode = serde_json::from_str("\"91110000600037341l\"").unwrap();
        assert_eq!(back, code);
        let err = serde_json::from_str::<CreditCode>("\"91110000600037341X\"").unwrap_err().to_string();
        assert!(err.contains("check character does not match (GB 32100)"), "{err}");
        let schema = serde_json::to_value(<CreditCode as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["example"], "91350100M000100Y43");
    }

    #[test]
    fn period_parsing() {
        let p = Period::parse("2022-01").unwrap();
        assert_eq!((p.year(), p.month()), (2022, 1));
        assert_eq!(p.to_string(), "2022-01");
        assert_eq!(p.first_day(), NaiveDate::from_ymd_opt(2022, 1, 1).unwrap());
        assert_eq!(Period::parse("2100-12").unwrap().to_string(), "2100-12");
        assert_eq!(Period::parse("2000-01").unwrap().to_string(), "2000-01");
        for (input, error) in [
            ("", IdError::PeriodMalformed),
            ("2022-1", IdError::PeriodMalformed),
            ("2022/01", IdError::PeriodMalformed),
            ("202201", IdError::PeriodMalformed),
            ("2022-01-01", IdError::PeriodMalformed),
            ("+022-01", IdError::PeriodMalformed),
            ("2022-+1", IdError::PeriodMalformed),
            (" 2022-01", IdError::PeriodMalformed),
            ("２022-01", IdError::PeriodMalformed),
            ("1999-12", IdError::PeriodYearOutOfRange),
            ("2101-01", IdError::PeriodYearOutOfRange),
            ("2022-00", IdError::PeriodMonthOutOfRange),
            ("2022-13", IdError::PeriodMonthOutOfRange),
        ] {
            assert_eq!(Period::parse(input), Err(error), "{input:?}");
        }
        assert_eq!(Period::new(2022, 13), Err(IdError::PeriodMonthOutOfRange));
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(Period::from_first_day(day(2022, 3, 1)), Ok(Period::parse("2022-03").unwrap()));
        assert_eq!(Period::from_first_day(day(2022, 3, 31)), Err(IdError::PeriodNotFirstDay));
        assert_eq!(Period::from_first_day(day(1999, 12, 1)), Err(IdError::PeriodYearOutOfRange));
        assert_eq!(Period::from_first_day(day(2101, 1, 1)), Err(IdError::PeriodYearOutOfRange));
    }

    #[test]
    fn period_order_and_first_days() {
        let a = Period::parse("2021-12").unwrap();
        let b = Period::parse("2022-01").unwrap();
        let c = Period::parse("2022-02").unwrap();
        assert!(a < b && b < c);
        // Every period the type can hold has a real first day, so the fallback
        // in `first_day` is indeed unreachable.
        for year in PERIOD_YEARS {
            for month in 1..=12 {
                let day = Period::new(year, month).unwrap().first_day();
                assert_eq!(day, NaiveDate::from_ymd_opt(year, month, 1).unwrap());
            }
        }
    }

    #[test]
    fn period_json_and_schema() {
        let p = Period::parse("2022-01").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"2022-01\"");
        assert_eq!(serde_json::from_str::<Period>("\"2022-01\"").unwrap(), p);
        assert!(serde_json::from_str::<Period>("202201").is_err());
        assert!(serde_json::from_str::<Period>("\"2022-13\"").is_err());
        let schema = serde_json::to_value(<Period as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["example"], "2022-01");
        assert_eq!(schema["pattern"], "^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$");
    }

    /// 17 digits: a six-digit region, a real birth date, a three-digit sequence.
    fn resident_prefix() -> impl Strategy<Value = String> {
        (0_u32..=999_999, 1900_i32..=2100, 1_u32..=12, 1_u32..=31, 0_u32..=999).prop_filter_map(
            "not a real date",
            |(region, y, m, d, seq)| {
                NaiveDate::from_ymd_opt(y, m, d)?;
                Some(format!("{region:06}{y:04}{m:02}{d:02}{seq:03}"))
            },
        )
    }

    /// 17 characters drawn from the GB 32100 alphabet.
    fn credit_prefix() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(CREDIT_ALPHABET.to_vec()), 17)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn resident_prefix_plus_check_char_parses(prefix in resident_prefix()) {
            let full = resident(&prefix);
            prop_assert_eq!(ResidentId::parse(&full).map(|id| id.expose().to_owned()), Ok(full));
        }

        #[test]
        fn resident_single_digit_substitution_is_detected(
            prefix in resident_prefix(),
            position in 0_usize..18,
            digit in 0_u32..=9,
        ) {
            let mut chars: Vec<char> = resident(&prefix).chars().collect();
            let replacement = char::from_digit(digit, 10).unwrap();
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(ResidentId::parse(&changed).is_err(), "{}", changed);
        }

        #[test]
        fn credit_prefix_plus_check_char_parses(prefix in credit_prefix()) {
            let full = format!("{prefix}{}", CreditCode::check_char(&prefix).unwrap());
            prop_assert_eq!(CreditCode::parse(&full).map(|c| c.as_str().to_owned()), Ok(full));
        }

        #[test]
        fn credit_single_substitution_is_detected(
            prefix in credit_prefix(),
            position in 0_usize..18,
            replacement in proptest::sample::select(CREDIT_ALPHABET.to_vec()),
        ) {
            let mut chars: Vec<char> = prefix.chars().collect();
            chars.push(CreditCode::check_char(&prefix).unwrap());
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert_eq!(CreditCode::parse(&changed), Err(IdError::CreditBadCheck));
        }

        #[test]
        fn period_display_then_parse_round_trips(year in 2000_i32..=2100, month in 1_u32..=12) {
            let period = Period::new(year, month).unwrap();
            prop_assert_eq!(Period::parse(&period.to_string()), Ok(period));
        }

        #[test]
        fn period_first_day_round_trips_and_other_days_are_refused(
            year in 2000_i32..=2100,
            month in 1_u32..=12,
            day in 2_u32..=28,
        ) {
            let period = Period::new(year, month).unwrap();
            prop_assert_eq!(Period::from_first_day(period.first_day()), Ok(period));
            let other = NaiveDate::from_ymd_opt(year, month, day).unwrap();
            prop_assert_eq!(Period::from_first_day(other), Err(IdError::PeriodNotFirstDay));
        }
    }
}
