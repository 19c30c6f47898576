//! Closed years (issue 16): a year's books close, and then nothing dated in that year moves
//! money, except an adjusting entry that a finance officer posts with a reason.
//!
//! ```text
//!           close (finance_officer, reason)        approve (leader, never the one who asked)
//!   open ───────────────────────────────▶ closing ─────────────────────────────────────▶ closed
//!     ▲                                      │
//!     └────── reject (leader, reason) ───────┘
//! ```
//!
//! - A year closes **in order**: asking to close a year while an earlier year that has books (a
//!   fund) is not closed is 409 `previous_year_open`. Accountants close the oldest year first, and
//!   it keeps the closed years a prefix of the calendar: money carried over from an open year
//!   always lands in an open one.
//! - `closing` refuses nothing: the books stay open until a leader closes them.
//! - A closed year is closed for good: corrections to it are adjusting entries, never a reopening.
//! - Requesting and approving are two duties of one case (`approval::Duty::Submit` and
//!   `Duty::Approve`, kept in `case_actors`): whoever asked to close a year, in any round, never
//!   closes it (403 `separation_of_duties`).
//!
//! A write dated in a closed year is 409 `period_closed`, unless it is an adjusting entry: sent
//! with the `Adjusting-Reason` header by a finance officer (403 for any other role), and dated
//! only in closed years (409 `period_open` otherwise, so that an ordinary write cannot pass as
//! an adjusting one).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::FieldError;
use super::approval::{CaseActor, Duty};
use super::error::DomainError;
use super::orgs::text_enum;
use super::policy::{Permission, Role, allows};

/// Where a year's books stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    /// Writes dated in the year are accepted (a year never asked to close is open).
    Open,
    /// A finance officer asked to close it; a leader has yet to decide. Still accepts writes.
    Closing,
    /// Closed by a leader: only adjusting entries are accepted.
    Closed,
}

text_enum!(BookState {
    Open => "open",
    Closing => "closing",
    Closed => "closed",
});

/// What can be done to a year's books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookAction {
    /// open → closing (a finance officer, with a reason).
    Close,
    /// closing → closed (a leader who did not ask).
    Approve,
    /// closing → open (a leader, with a reason).
    Reject,
}

text_enum!(BookAction {
    Close => "close",
    Approve => "approve",
    Reject => "reject",
});

impl BookAction {
    /// The duty of the maker-checker pair this action takes, if any.
    pub fn duty(self) -> Option<Duty> {
        match self {
            BookAction::Close => Some(Duty::Submit),
            BookAction::Approve => Some(Duty::Approve),
            BookAction::Reject => None,
        }
    }

    fn permission(self) -> Permission {
        match self {
            BookAction::Close => Permission::RequestYearClose,
            BookAction::Approve | BookAction::Reject => Permission::ApproveYearClose,
        }
    }
}

/// The longest reason kept (the database checks the same bound).
pub const REASON_CHARS_MAX: usize = 2000;

/// Whether `actor` (with `role`) may take `action` on a year whose close has this `history`,
/// whatever the year's state: asked first, so that a caller without the right learns nothing.
pub fn authorize(action: BookAction, actor: Uuid, role: Role, history: &[CaseActor]) -> Result<(), DomainError> {
    if !allows(role, action.permission()) {
        return Err(DomainError::Forbidden {
            code: "forbidden",
            detail: "your role does not allow this action".into(),
        });
    }
    if let Some(duty) = action.duty()
        && history.iter().any(|h| h.actor == actor && h.duty != duty)
    {
        return Err(DomainError::Forbidden {
            code: "separation_of_duties",
            detail: "whoever asks to close a year never closes it, nor the other way round".into(),
        });
    }
    Ok(())
}

/// What a close, approval or rejection needs to know of the year.
#[derive(Debug, Clone, Copy)]
pub struct YearCase<'a> {
    /// The year.
    pub year: i32,
    /// Its state now.
    pub state: BookState,
    /// Earlier years with books that are not closed, oldest first.
    pub earlier_open: &'a [i32],
}

/// The state `action` leads to, after `authorize`: a wrong state is 409 `invalid_transition`, a
/// missing reason (to close or to reject) a 422, an earlier year still open 409
/// `previous_year_open`.
pub fn decide(case: &YearCase<'_>, action: BookAction, reason: Option<&str>) -> Result<BookState, DomainError> {
    use {BookAction as A, BookState as S};
    let to = match (action, case.state) {
        (A::Close, S::Open) => S::Closing,
        (A::Approve, S::Closing) => S::Closed,
        (A::Reject, S::Closing) => S::Open,
        (action, state) => {
            return Err(DomainError::conflict(
                "invalid_transition",
                format!("cannot {action} the books of {} while they are {state}", case.year),
            ));
        }
    };
    if matches!(action, A::Close | A::Reject) {
        match reason.map(str::trim) {
            None | Some("") => {
                return Err(DomainError::invalid("reason", format!("a reason is required to {action} a year")));
            }
            Some(r) if r.chars().count() > REASON_CHARS_MAX => {
                return Err(DomainError::invalid("reason", format!("at most {REASON_CHARS_MAX} characters")));
            }
            Some(_) => {}
        }
    }
    if let Some(first) = case.earlier_open.first()
        && action != A::Reject
    {
        return Err(DomainError::conflict(
            "previous_year_open",
            format!("the books of {first} are not closed: years close in order, the oldest first"),
        ));
    }
    Ok(to)
}

/// A finance officer's adjusting entry: a write dated in a closed year, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjusting {
    reason: String,
}

impl Adjusting {
    /// The request header that makes a write an adjusting entry.
    pub const HEADER: &'static str = "Adjusting-Reason";
    /// The longest reason a header may carry.
    pub const REASON_CHARS_MAX: usize = 500;

    /// The header's value: UTF-8, percent-encoded where it is not plain ASCII (a browser sends
    /// only ASCII in a header, so a Chinese reason arrives as `encodeURIComponent` wrote it; raw
    /// UTF-8 bytes are accepted too). Trimmed; 1–500 characters, no control characters.
    pub fn parse_header(raw: &[u8]) -> Result<Self, FieldError> {
        let refuse = |m: &str| FieldError::new(Self::HEADER, m);
        let text = String::from_utf8(percent_decode(raw))
            .map_err(|_| refuse("must be UTF-8 text, percent-encoded where it is not ASCII"))?;
        let reason = text.trim();
        if reason.is_empty() {
            return Err(refuse("the reason of an adjusting entry is required"));
        }
        if reason.chars().count() > Self::REASON_CHARS_MAX {
            return Err(refuse("at most 500 characters"));
        }
        if reason.chars().any(char::is_control) {
            return Err(refuse("must not contain control characters"));
        }
        Ok(Self { reason: reason.to_owned() })
    }

    /// The finance officer's reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// `%XX` sequences decoded; anything else (a lone `%` included) kept as it is.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let (Some(hi), Some(lo)) = (raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// How a write dated in some years may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Every year is open (or closing): an ordinary write.
    Ordinary,
    /// Every year is closed, and the write is a finance officer's adjusting entry.
    Adjusting,
}

/// Whether a write dated in `years` (each with its state) may go ahead, and as what. The
/// caller's right to send an adjusting entry is checked before (`may_adjust`).
pub fn admit(years: &[(i32, BookState)], adjusting: Option<&Adjusting>) -> Result<Admission, DomainError> {
    let list = |want: bool| {
        years.iter().filter(|(_, s)| (*s == BookState::Closed) == want).map(|(y, _)| y.to_string()).collect::<Vec<_>>()
    };
    let (closed, open) = (list(true), list(false));
    match adjusting {
        None if closed.is_empty() => Ok(Admission::Ordinary),
        None => Err(DomainError::conflict(
            "period_closed",
            format!(
                "the books of {} are closed: only a finance officer's adjusting entry (header {}) may be posted in them",
                closed.join(", "),
                Adjusting::HEADER
            ),
        )),
        Some(_) if open.is_empty() && !closed.is_empty() => Ok(Admission::Adjusting),
        Some(_) => Err(DomainError::conflict(
            "period_open",
            format!(
                "the books of {} are open: an adjusting entry is dated in closed years only; post the rest without {}",
                if open.is_empty() { "this write".to_owned() } else { open.join(", ") },
                Adjusting::HEADER
            ),
        )),
    }
}

/// Whether `role` may post adjusting entries (403 `forbidden` otherwise).
pub fn may_adjust(role: Role) -> Result<(), DomainError> {
    if allows(role, Permission::PostAdjustingEntries) {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            code: "forbidden",
            detail: format!("only a finance officer posts adjusting entries ({})", Adjusting::HEADER),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    const FINANCE: Uuid = Uuid::from_u128(1);
    const LEADER: Uuid = Uuid::from_u128(2);

    fn year(state: BookState, earlier_open: &[i32]) -> YearCase<'_> {
        YearCase { year: 2022, state, earlier_open }
    }

    #[test]
    fn a_year_closes_through_a_request_and_an_approval() {
        assert_eq!(decide(&year(BookState::Open, &[]), BookAction::Close, Some("year end")), Ok(BookState::Closing));
        assert_eq!(decide(&year(BookState::Closing, &[]), BookAction::Approve, None), Ok(BookState::Closed));
        assert_eq!(decide(&year(BookState::Closing, &[]), BookAction::Reject, Some("not yet")), Ok(BookState::Open));
    }

    #[test]
    fn a_closed_year_stays_closed_and_an_open_one_has_nothing_to_approve() {
        for action in [BookAction::Close, BookAction::Approve, BookAction::Reject] {
            let e = decide(&year(BookState::Closed, &[]), action, Some("r")).unwrap_err();
            assert!(matches!(e, DomainError::Conflict { code: "invalid_transition", .. }), "{action}: {e:?}");
        }
        let e = decide(&year(BookState::Open, &[]), BookAction::Approve, None).unwrap_err();
        assert!(matches!(e, DomainError::Conflict { code: "invalid_transition", .. }));
        let e = decide(&year(BookState::Closing, &[]), BookAction::Close, Some("again")).unwrap_err();
        assert!(matches!(e, DomainError::Conflict { code: "invalid_transition", .. }));
    }

    #[test]
    fn closing_and_rejecting_need_a_reason() {
        for (state, action) in [(BookState::Open, BookAction::Close), (BookState::Closing, BookAction::Reject)] {
            for reason in [None, Some(""), Some("   ")] {
                let e = decide(&year(state, &[]), action, reason).unwrap_err();
                assert!(matches!(&e, DomainError::Invalid(f) if f[0].field == "reason"), "{action}: {e:?}");
            }
        }
        let long = "年".repeat(REASON_CHARS_MAX + 1);
        assert!(decide(&year(BookState::Open, &[]), BookAction::Close, Some(&long)).is_err());
    }

    #[test]
    fn years_close_in_order() {
        let e = decide(&year(BookState::Open, &[2021]), BookAction::Close, Some("year end")).unwrap_err();
        assert!(matches!(&e, DomainError::Conflict { code: "previous_year_open", detail } if detail.contains("2021")));
        let e = decide(&year(BookState::Closing, &[2021]), BookAction::Approve, None).unwrap_err();
        assert!(matches!(e, DomainError::Conflict { code: "previous_year_open", .. }));
        // A request made out of order can always be turned down.
        assert_eq!(decide(&year(BookState::Closing, &[2021]), BookAction::Reject, Some("no")), Ok(BookState::Open));
    }

    #[test]
    fn finance_asks_a_leader_closes_and_never_the_same_person() {
        assert!(authorize(BookAction::Close, FINANCE, Role::FinanceOfficer, &[]).is_ok());
        for role in Role::ALL.into_iter().filter(|r| *r != Role::FinanceOfficer) {
            let e = authorize(BookAction::Close, FINANCE, role, &[]).unwrap_err();
            assert!(matches!(e, DomainError::Forbidden { code: "forbidden", .. }), "{role}");
        }
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Leader) {
            assert!(authorize(BookAction::Approve, LEADER, role, &[]).is_err(), "{role}");
            assert!(authorize(BookAction::Reject, LEADER, role, &[]).is_err(), "{role}");
        }
        let asked = [CaseActor { duty: Duty::Submit, actor: FINANCE }];
        assert!(authorize(BookAction::Approve, LEADER, Role::Leader, &asked).is_ok());
        // The one who asked, made a leader since, still does not close the year.
        let e = authorize(BookAction::Approve, FINANCE, Role::Leader, &asked).unwrap_err();
        assert!(matches!(e, DomainError::Forbidden { code: "separation_of_duties", .. }));
        // Rejecting takes no duty; asking again after a rejection is the same duty.
        assert!(authorize(BookAction::Reject, FINANCE, Role::Leader, &asked).is_ok());
        assert!(authorize(BookAction::Close, FINANCE, Role::FinanceOfficer, &asked).is_ok());
        let closed = [CaseActor { duty: Duty::Approve, actor: LEADER }];
        let e = authorize(BookAction::Close, LEADER, Role::FinanceOfficer, &closed).unwrap_err();
        assert!(matches!(e, DomainError::Forbidden { code: "separation_of_duties", .. }));
    }

    fn adjusting() -> Adjusting {
        Adjusting::parse_header(b"late invoice").unwrap()
    }

    #[test]
    fn a_closed_year_admits_only_adjusting_entries_and_they_only_there() {
        use BookState::{Closed, Closing, Open};
        assert_eq!(admit(&[(2023, Open), (2024, Closing)], None), Ok(Admission::Ordinary));
        let e = admit(&[(2022, Closed), (2023, Open)], None).unwrap_err();
        assert!(matches!(&e, DomainError::Conflict { code: "period_closed", detail } if detail.contains("2022")));
        assert_eq!(admit(&[(2021, Closed), (2022, Closed)], Some(&adjusting())), Ok(Admission::Adjusting));
        let e = admit(&[(2023, Open)], Some(&adjusting())).unwrap_err();
        assert!(matches!(e, DomainError::Conflict { code: "period_open", .. }));
        let e = admit(&[(2022, Closed), (2023, Open)], Some(&adjusting())).unwrap_err();
        assert!(matches!(&e, DomainError::Conflict { code: "period_open", detail } if detail.contains("2023")));
        assert!(admit(&[], Some(&adjusting())).is_err());
    }

    #[test]
    fn only_a_finance_officer_adjusts() {
        for role in Role::ALL {
            assert_eq!(may_adjust(role).is_ok(), role == Role::FinanceOfficer, "{role}");
        }
    }

    #[test]
    fn the_header_is_read_as_percent_encoded_utf8() {
        let read = |raw: &[u8]| Adjusting::parse_header(raw).map(|a| a.reason().to_owned());
        assert_eq!(read(b"  late invoice "), Ok("late invoice".into()));
        assert_eq!(read(b"%E8%A1%A5%E8%AE%B0%E5%B9%B4%E6%9C%AB%E5%8F%91%E7%A5%A8"), Ok("补记年末发票".into()));
        assert_eq!(read("补记年末发票".as_bytes()), Ok("补记年末发票".into()));
        assert_eq!(read(b"100% sure"), Ok("100% sure".into()));
        assert_eq!(read(b"50%25"), Ok("50%".into()));
        for bad in [&b""[..], b"   ", b"%FF%FE", b"a%0Ab", b"\x01"] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
        assert!(read("x".repeat(501).as_bytes()).is_err());
        assert!(read("x".repeat(500).as_bytes()).is_ok());
    }

    proptest! {
        #[test]
        fn any_reason_survives_percent_encoding(reason in "[^\\p{Cc}]{1,200}") {
            let reason = reason.trim().to_owned();
            prop_assume!(!reason.is_empty());
            let encoded: String = reason.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(Adjusting::parse_header(encoded.as_bytes()).map(|a| a.reason().to_owned()), Ok(reason));
        }
    }
}
