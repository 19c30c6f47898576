//! What a business rule says when it says no. No HTTP here: `crate::error::Error` maps each
//! variant to a status and to API.md's stable `code`.

use std::fmt;

/// One invalid field of a request, named the way the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the request body or query, e.g. `amount` or `rows[3].credit_code`.
    pub field: String,
    /// Why it was refused, in words a user can act on.
    pub message: String,
}

impl FieldError {
    /// A refusal of `field` for `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A business rule refused the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request's content is invalid; every bad field is named at once.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A journal entry whose debits and credits differ, or with fewer than two postings.
    #[error("journal entry does not balance")]
    Unbalanced,
    /// The action is not legal in the current state of the thing, or would break a limit
    /// (a fund's budget, an allocation, …). `code` is API.md's stable error code.
    #[error("{detail}")]
    Conflict {
        /// Stable machine-readable code, e.g. `over_allocation`, `invalid_transition`.
        code: &'static str,
        /// What was refused and why, in words.
        detail: String,
    },
    /// The caller's role allows the action, but not on this thing (e.g. separation of duties).
    #[error("{detail}")]
    Forbidden {
        /// Stable machine-readable code, e.g. `separation_of_duties`.
        code: &'static str,
        /// Why, in words.
        detail: String,
    },
}

impl DomainError {
    /// A conflict with the current state, under API.md's `code`.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    /// One invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}
