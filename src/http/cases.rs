//! What every kind of case (hardship application, township grant) shares over HTTP: the body of
//! an action of the approval machine. The handlers themselves come from `action_handler!`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
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

/// An action's body, checked: all of an `Act` but the action, which the route names.
pub struct ActionBody {
    reason: Option<String>,
    approved_amount: Option<Money>,
}

impl TryFrom<ActionRequest> for ActionBody {
    type Error = Error;
    fn try_from(r: ActionRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            errors.push(FieldError::new("reason", "must be at most 1,000 characters"));
        }
        if r.approved_amount.is_some_and(|a| a.is_zero()) {
            errors.push(FieldError::new("approved_amount", "must be more than 0.00"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(ActionBody { reason: r.reason, approved_amount: r.approved_amount })
    }
}

impl ActionBody {
    /// The action asked for, with this body.
    pub fn into_act(self, action: CaseAction) -> Act {
        Act { action, reason: self.reason, approved_amount: self.approved_amount }
    }
}
