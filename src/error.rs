//! `Error`: what every handler returns, and the one place that knows HTTP statuses. Each variant
//! becomes an RFC 9457 `application/problem+json` body with API.md's stable `code`. A 5xx body
//! carries no internals: the cause is logged once, here, with the request's span around it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{DomainError, FieldError};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request could not be read (malformed JSON, a bad id in the path, a bad query).
    #[error("{detail}")]
    BadRequest {
        /// What was wrong.
        detail: String,
        /// The fields concerned, when known.
        errors: Vec<FieldError>,
    },
    /// 401: no token, or one that is expired, forged, or for another audience; or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller's role may not do this.
    #[error("{detail}")]
    Forbidden {
        /// `forbidden`, `separation_of_duties`, …
        code: &'static str,
        /// Why.
        detail: String,
    },
    /// 404: no such thing, or not the caller's (existence is never leaked across organisations).
    #[error("not found")]
    NotFound,
    /// 409: the action conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// `invalid_transition`, `over_allocation`, …
        code: &'static str,
        /// Why.
        detail: String,
    },
    /// 412: `If-Match` names a version that is no longer current.
    #[error("the resource changed since it was read (ETag {current})")]
    PreconditionFailed {
        /// The current ETag, so the client can re-read.
        current: String,
    },
    /// 408: the body did not arrive in time (a stalled or trickling client).
    #[error("the request body did not arrive within {limit_ms} ms")]
    RequestTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// 413: the body is larger than this endpoint accepts.
    #[error("request body larger than {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// 415: the body is not JSON.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422: the content is invalid; every bad field is named.
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// 422: an `Idempotency-Key` was reused with a different request.
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// 428: a state-changing action needs `If-Match`.
    #[error("this action requires an If-Match header with the resource's ETag")]
    PreconditionRequired,
    /// 428: a system client moved money without an `Idempotency-Key` (its retry would post again).
    #[error("a system client must send an Idempotency-Key with every request that moves money")]
    IdempotencyKeyRequired,
    /// 429: too many attempts; try again later.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until an attempt is allowed again.
        retry_after_secs: u64,
    },
    /// 503: the database cannot be reached right now.
    #[error("the service is temporarily unavailable: {0}")]
    Unavailable(String),
    /// 503: the database gave up on the request — a row lock held by another writer past the
    /// lock timeout, a deadlock, a serialization failure, a statement past its time limit. The
    /// transaction rolled back, so nothing was written and the same request (with the same
    /// `Idempotency-Key`) may simply be sent again.
    #[error("the database was busy; nothing was written: {0}")]
    TryAgain(String),
    /// 500: a bug or an unexpected failure; details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A 422 naming one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A 400 naming one field.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        let e = FieldError::new(field, message);
        Self::BadRequest { detail: e.to_string(), errors: vec![e] }
    }

    /// A 403 for a role that may not do this.
    pub fn forbidden() -> Self {
        Self::Forbidden { code: "forbidden", detail: "your role does not allow this action".into() }
    }

    /// A 409 for a sum the books cannot hold (past `NUMERIC(18,2)`, 9,999,999,999,999,999.99).
    pub fn out_of_range() -> Self {
        Self::Conflict {
            code: "amount_out_of_range",
            detail: "the resulting amount would exceed 9999999999999999.99, the largest the books hold".into(),
        }
    }

    /// A 409 for a document reference already recorded (never quoting it: it is what the caller sent).
    pub fn duplicate_reference() -> Self {
        Self::Conflict {
            code: "duplicate_reference",
            detail: "this reference was already recorded; a retry must reuse its Idempotency-Key".into(),
        }
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// API.md's stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { .. } => "malformed_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden { code, .. } | Error::Conflict { code, .. } => code,
            Error::NotFound => "not_found",
            Error::PreconditionFailed { .. } => "precondition_failed",
            Error::RequestTimeout { .. } => "request_timeout",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Validation(_) => "validation_failed",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::PreconditionRequired => "precondition_required",
            Error::IdempotencyKeyRequired => "idempotency_key_required",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Unavailable(_) => "service_unavailable",
            Error::TryAgain(_) => "try_again",
            Error::Internal(_) => "internal_error",
        }
    }
}

/// The RFC 9457 problem document every error answers with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "urn:unionfund:problem:validation_failed", "title": "Unprocessable Content",
    "status": 422, "detail": "invalid request", "code": "validation_failed",
    "errors": [{"field": "amount", "message": "must be a string with at most two decimals, like \"1500.00\""}]}))]
pub struct Problem {
    /// `urn:unionfund:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable machine-readable code (API.md).
    pub code: String,
    /// The fields that were refused, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Error::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Validation(_) | Error::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PreconditionRequired | Error::IdempotencyKeyRequired => StatusCode::PRECONDITION_REQUIRED,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) | Error::TryAgain(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            // The cause is logged here, once, inside the request's span; the body says nothing of it.
            Error::Internal(cause) => tracing::error!(error.cause = %cause, "request failed"),
            Error::Unavailable(cause) => tracing::warn!(error.cause = %cause, "database unavailable"),
            Error::TryAgain(cause) => {
                tracing::warn!(error.cause = %cause, "the database gave up; the client may retry")
            }
            _ => {}
        }
        let errors = match self {
            Error::Validation(e) => e.clone(),
            Error::BadRequest { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let problem = Problem {
            type_: format!("urn:unionfund:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            // 5xx bodies carry no internals (SQL, paths, causes): those went to the log above.
            detail: match self {
                Error::Internal(_) => "internal error; the request id leads to the details in the log".to_owned(),
                Error::Unavailable(_) => "the database cannot be reached right now; retry later".to_owned(),
                Error::TryAgain(_) => "the database was busy and nothing was written; send the same request again \
                                       (with the same Idempotency-Key)"
                    .to_owned(),
                other => other.to_string(),
            },
            code: self.code().to_owned(),
            errors,
        };
        let mut res = HttpResponse::build(status);
        res.content_type("application/problem+json");
        match self {
            Error::TooManyRequests { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Error::TryAgain(_) => {
                res.insert_header((header::RETRY_AFTER, TRY_AGAIN_AFTER_SECS.to_string()));
            }
            Error::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Error::PreconditionFailed { current } => {
                res.insert_header((header::ETAG, current.clone()));
            }
            _ => {}
        }
        res.json(problem)
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(errors) => Error::Validation(errors),
            DomainError::Conflict { code, detail } => Error::Conflict { code, detail },
            DomainError::Forbidden { code, detail } => Error::Forbidden { code, detail },
            // An unbalanced entry is a bug in the service, never the caller's fault.
            DomainError::Unbalanced => Error::Internal("journal entry does not balance".into()),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as D};
        if let D::DatabaseError(K::CheckViolation, info) = &e
            && let Some(guard) = info.constraint_name().and_then(ledger_guard)
        {
            return guard;
        }
        match e {
            D::NotFound => Error::NotFound,
            D::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, info) => {
                Error::Unavailable(info.message().to_owned())
            }
            // A sum past NUMERIC(18,2): the posting trigger names `amount_in_range`; elsewhere
            // PostgreSQL's own overflow (its English message: the service's database speaks it).
            D::DatabaseError(K::CheckViolation, info) if info.constraint_name() == Some("amount_in_range") => {
                Error::out_of_range()
            }
            D::DatabaseError(K::Unknown, info) if info.message() == "numeric field overflow" => Error::out_of_range(),
            // The bureau's document reference used a second time (the service checks first; this
            // is the database's own refusal, for a race or a path that forgot to).
            D::DatabaseError(K::UniqueViolation, info)
                if matches!(
                    info.constraint_name(),
                    Some(
                        "fund_sources_fund_reference_key"
                        | "fee_payments_unit_year_reference_key"
                        | "fee_upper_remittances_year_reference_key",
                    )
                ) =>
            {
                Error::duplicate_reference()
            }
            // The closed-year trigger on journal_entries (migration 000016), behind service::books.
            // An application's filed facts after it left draft (migration 000024), behind the
            // service's own 409 not_a_draft.
            D::DatabaseError(K::CheckViolation, info) if info.constraint_name() == Some("application_frozen") => {
                Error::Conflict {
                    code: "not_a_draft",
                    detail: "what was filed no longer changes once the application is submitted".into(),
                }
            }
            D::DatabaseError(K::CheckViolation, info) if info.constraint_name() == Some("period_closed") => {
                Error::Conflict {
                    code: "period_closed",
                    detail: "the books of that year are closed: only a finance officer's adjusting entry may be posted in them"
                        .into(),
                }
            }
            // 40001: only a transaction above READ COMMITTED (a report's snapshot) can get it.
            D::DatabaseError(K::SerializationFailure, info) => Error::TryAgain(info.message().to_owned()),
            // 40P01, 55P03 and our own 57014 (not a cancel asked for by someone else): diesel names
            // no kind for them, so their (English) messages tell them apart.
            D::DatabaseError(K::Unknown, info) if gave_up(info.message()) => Error::TryAgain(info.message().to_owned()),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The posting trigger's guards (migration 000014), answered as the 409 of the Rust check each
/// one backs: they fire only when a concurrent write changed the figure after the service read it.
fn ledger_guard(constraint: &str) -> Option<Error> {
    let (code, detail) = match constraint {
        "available_not_negative" => ("over_allocation", "the fund does not have that much available"),
        "committed_not_negative" => ("over_disbursement", "that is more than the allocation has left to pay"),
        "paid_out_not_negative" => ("over_use", "that is more than was paid out and not yet used"),
        "reversal_within_paid_out" => ("over_reversal", "that is more than was paid out and not yet used"),
        _ => return None,
    };
    Some(Error::Conflict { code, detail: format!("{detail} (the books changed while the request was checked)") })
}

/// The `Retry-After` of a 503 `try_again`: the lock that was waited for is usually a request's
/// (milliseconds); a second is long enough, and short enough for a person.
pub const TRY_AGAIN_AFTER_SECS: u64 = 1;

/// Whether a database error is one of the ways the database gives up on a statement that a
/// retry may get through: deadlock_detected (40P01), lock_not_available (55P03) from
/// `lock_timeout` or `NOWAIT`, query_canceled (57014) from our `statement_timeout`.
fn gave_up(message: &str) -> bool {
    message == "deadlock detected"
        || message == "canceling statement due to lock timeout"
        || message == "canceling statement due to statement timeout"
        || message.starts_with("could not obtain lock on ")
}

impl From<crate::pii::PiiError> for Error {
    /// Sealed data that cannot be opened is the service's fault (a key dropped too early, a row
    /// altered), never the caller's: a 500. The error carries no key and no plaintext.
    fn from(e: crate::pii::PiiError) -> Self {
        Error::internal(e)
    }
}

/// A conversion that cannot fail (a request type read as itself: `JsonBody<R>`) never is one.
impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// A single refused field is a 422, like a `DomainError::Invalid` of one.
impl From<crate::domain::FieldError> for Error {
    fn from(e: crate::domain::FieldError) -> Self {
        Error::Validation(vec![e])
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for Error {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Error::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use diesel::result::{DatabaseErrorKind as K, Error as D};

    fn from_database(kind: K, message: &str) -> Error {
        Error::from(D::DatabaseError(kind, Box::new(message.to_owned())))
    }

    #[test]
    fn the_database_giving_up_is_a_503_to_retry_with_retry_after() {
        for (kind, message) in [
            (K::Unknown, "deadlock detected"),
            (K::Unknown, "canceling statement due to lock timeout"),
            (K::Unknown, "canceling statement due to statement timeout"),
            (K::Unknown, "could not obtain lock on row in relation \"funds\""),
            (K::SerializationFailure, "could not serialize access due to concurrent update"),
        ] {
            let e = from_database(kind, message);
            assert_eq!((e.code(), e.status_code()), ("try_again", StatusCode::SERVICE_UNAVAILABLE), "{message}");
            let answer = e.error_response();
            assert_eq!(answer.headers().get(header::RETRY_AFTER).unwrap(), "1", "{message}");
        }
    }

    #[test]
    fn a_cancel_someone_else_asked_for_is_no_retry() {
        // An operator's pg_cancel_backend, or a shutdown: not a limit of ours, so not "try again".
        for message in
            ["canceling statement due to user request", "terminating connection due to administrator command"]
        {
            assert_eq!(from_database(K::Unknown, message).code(), "internal_error", "{message}");
        }
    }
}
