//! What every kind of case (hardship application, township grant) shares over HTTP: the body of
//! an action of the approval machine. The handlers themselves come from `action_handler!`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::approval::CaseAction;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::cases::Act;

/// The body of an action on an application or a grant.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Why: required to reject, return or withdraw; recorded in the audit event whenever given.
    pub reason: Option<String>,
    /// When approving: the amount approved, at most the requested amount (default: all of it).
    pub approved_amount: Option<Money>,
}

impl ActionRequest {
    /// The action, with its reason checked for length.
    pub fn into_act(self, action: CaseAction) -> Result<Act, Error> {
        if self.reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            return Err(Error::invalid("reason", "must be at most 1,000 characters"));
        }
        if self.approved_amount.is_some_and(|a| a.is_zero()) {
            return Err(Error::invalid("approved_amount", "must be more than 0.00"));
        }
        Ok(Act { action, reason: self.reason, approved_amount: self.approved_amount })
    }
}
