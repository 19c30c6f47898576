//! Hardship applications' own vocabulary (DOMAIN.md, fund 2; API.md, `/hardship/applications`):
//! the categories and levels of hardship, and the shape of the personal data an application
//! carries besides the ID number (`ids::ResidentId`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::approval::CaseStatus;
use super::error::{DomainError, FieldError};
use super::orgs::text_enum;

/// Why a worker is in difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Serious illness (大病).
    Illness,
    /// Disability (残疾).
    Disability,
    /// Natural disaster or accident at home (灾害).
    Disaster,
    /// A child's schooling (助学).
    Education,
    /// Loss of work (失业).
    Unemployment,
    /// Anything else.
    Other,
}

text_enum!(Category {
    Illness => "illness",
    Disability => "disability",
    Disaster => "disaster",
    Education => "education",
    Unemployment => "unemployment",
    Other => "other",
});

/// How deep the difficulty is (深度困难, 相对困难, 意外致困).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Deep, lasting hardship.
    Deep,
    /// Relative hardship.
    Relative,
    /// Hardship from an accident or a sudden event.
    Accidental,
}

text_enum!(Level {
    Deep => "deep",
    Relative => "relative",
    Accidental => "accidental",
});

/// What a campaign is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Winter warmth (冬季送温暖).
    WinterWarmth,
    /// Summer cooling (夏季送清凉).
    SummerCooling,
    /// Autumn school aid (金秋助学).
    SchoolAid,
    /// Epidemic care (疫情关爱).
    EpidemicCare,
    /// Anything else.
    Other,
}

text_enum!(CampaignKind {
    WinterWarmth => "winter_warmth",
    SummerCooling => "summer_cooling",
    SchoolAid => "school_aid",
    EpidemicCare => "epidemic_care",
    Other => "other",
});

/// A phone number as entered: 5 to 20 characters of digits, spaces, `-` and a leading `+`;
/// normalised to digits (and the `+`) only.
pub fn phone(field: &str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let ok =
        trimmed.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (c == '+' && i == 0));
    let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
    let count = digits.chars().filter(char::is_ascii_digit).count();
    if !ok || !(5..=20).contains(&count) {
        return Err(FieldError::new(
            field,
            "must be a phone number: 5 to 20 digits, optionally with spaces, '-' and a leading '+'",
        ));
    }
    Ok(digits)
}

/// A bank account (card) number: 8 to 32 digits, spaces allowed and dropped.
pub fn bank_account(field: &str, raw: &str) -> Result<String, FieldError> {
    let digits: String = raw.chars().filter(|c| *c != ' ').collect();
    if !(8..=32).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(field, "must be a bank account number: 8 to 32 digits"));
    }
    Ok(digits)
}

/// Free text that must be present: trimmed, 1 to `max` characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(FieldError::new(field, format!("must be 1 to {max} characters")));
    }
    Ok(t.to_owned())
}

/// The duplicate-beneficiary rule (DOMAIN.md, fund 2): an application is refused at submission
/// while the same person has `others` other active applications in `year`, unless a leader has
/// overridden the check on it. The refusal names no application: another may belong to an
/// organisation the caller may not see.
pub fn check_duplicates(others: usize, year: i32, overridden: bool) -> Result<(), DomainError> {
    if others > 0 && !overridden {
        return Err(DomainError::conflict(
            "duplicate_beneficiary",
            format!(
                "this worker already has {others} active hardship application(s) in {year}; a leader may override with a reason"
            ),
        ));
    }
    Ok(())
}

/// A leader overrides the duplicate check only on the way to approval (draft, submitted,
/// reviewed): once approved, rejected or withdrawn there is nothing left to let through.
pub fn check_override(status: CaseStatus) -> Result<(), DomainError> {
    if matches!(status, CaseStatus::Draft | CaseStatus::Submitted | CaseStatus::Reviewed) {
        Ok(())
    } else {
        Err(DomainError::conflict(
            "invalid_transition",
            format!("an application that is {status} needs no duplicate override"),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_and_checked() {
        assert_eq!(phone("phone", "138-0013 8000").unwrap(), "13800138000");
        assert_eq!(phone("phone", "+86 731 1234567").unwrap(), "+867311234567");
        assert!(phone("phone", "1234").is_err());
        assert!(phone("phone", "138x0013800").is_err());
        assert!(phone("phone", "13+800138000").is_err());
    }

    #[test]
    fn bank_accounts_are_digits() {
        assert_eq!(bank_account("b", "6222 0200 1234 5678").unwrap(), "6222020012345678");
        assert!(bank_account("b", "1234567").is_err());
        assert!(bank_account("b", "6222-0200-1234").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("r", "  ok ", 5).unwrap(), "ok");
        assert!(text("r", "   ", 5).is_err());
        assert!(text("r", "六个汉字六个", 5).is_err());
    }

    #[test]
    fn a_second_active_application_of_a_person_is_refused_unless_overridden() {
        assert_eq!(check_duplicates(0, 2022, false), Ok(()));
        assert_eq!(check_duplicates(2, 2022, true), Ok(()));
        let Err(DomainError::Conflict { code, detail }) = check_duplicates(2, 2022, false) else {
            panic!("not refused")
        };
        assert_eq!(code, "duplicate_beneficiary");
        assert!(detail.starts_with("this worker already has 2 active hardship application(s) in 2022"), "{detail}");
    }

    #[test]
    fn a_duplicate_override_is_only_for_a_case_on_its_way_to_approval() {
        for status in [CaseStatus::Draft, CaseStatus::Submitted, CaseStatus::Reviewed] {
            assert_eq!(check_override(status), Ok(()));
        }
        for status in [CaseStatus::Approved, CaseStatus::Rejected, CaseStatus::Withdrawn] {
            let e = check_override(status).unwrap_err();
            assert_eq!(
                e,
                DomainError::conflict(
                    "invalid_transition",
                    format!("an application that is {status} needs no duplicate override")
                )
            );
        }
    }
}
