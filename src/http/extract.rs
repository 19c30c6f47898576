//! Extractors: what a handler receives, already checked. `Authorized<P>` is the one mechanism
//! that enforces roles: a handler names its permission in its signature, and the request is
//! refused (401/403) before the handler runs.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::db::write::{Idempotency, WriteCtx};
use crate::domain::FieldError;
use crate::domain::books::Adjusting;
use crate::domain::policy::{Caller, Permission, allows};
use crate::error::Error;
use crate::service::Page;

/// The request's id: the caller's `X-Request-Id` when it sent a sane one, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string()))))
    }
}

/// Marker types naming a permission, for `Authorized<P>`.
pub mod perm {
    use crate::domain::policy::Permission;

    /// A permission as a type.
    pub trait Perm {
        /// The permission.
        const PERMISSION: Permission;
    }

    macro_rules! perms {
        ($($name:ident),+) => {$(
            #[doc = concat!("`Permission::", stringify!($name), "`")]
            pub struct $name;
            impl Perm for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }
    perms!(
        ReadOrgs,
        ManageOrgs,
        ManageUsers,
        ReadFunds,
        ManageFunds,
        PostFundSources,
        ReadAudit,
        TakeCheckpoint,
        ReadFees,
        DeclareFees,
        ManageFeeRates,
        DeclareFeeBatches,
        RecordFeePayments,
        ReadHardship,
        FileHardship,
        ReviewHardship,
        RevealPii,
        OverrideDuplicates,
        ManageCampaigns,
        ReadGrants,
        FileGrants,
        SubmitGrants,
        ReviewGrants,
        ApproveCampaigns,
        ReadReports,
        ReadItems,
        MoveItemMoney,
        RecordItemUse,
        ManageBudget,
        ReadBooks,
        RequestYearClose,
        ApproveYearClose,
        PostAdjustingEntries
    );
}

/// The authenticated caller, allowed to do `P` (else 401 without a good token, 403 without the
/// role). The token's subject is checked against the database on every request (through a
/// cache of a few seconds): a disabled, changed, reset or rotated subject's token, or one
/// naming a subject that does not exist, is a 401 before any permission is looked at.
/// Carries the request id, so that writes can stamp it into the trail.
pub struct Authorized<P> {
    /// Who is calling.
    pub caller: Caller,
    /// The request's id.
    pub request_id: String,
    /// The `Adjusting-Reason` of a write, already known to come from a finance officer.
    pub adjusting: Option<Adjusting>,
    _perm: PhantomData<P>,
}

impl<P> Deref for Authorized<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<P> Authorized<P> {
    /// The context of a write made by this caller now.
    pub fn write_ctx(&self) -> WriteCtx {
        WriteCtx {
            caller: Some(self.caller.clone()),
            request_id: self.request_id.clone(),
            now: crate::service::now(),
            adjusting: self.adjusting.clone(),
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<&str, Error> {
    let value =
        req.headers().get(header::AUTHORIZATION).ok_or_else(|| Error::Unauthorized("missing bearer token".into()))?;
    let value = value.to_str().map_err(|_| Error::Unauthorized("malformed Authorization header".into()))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Unauthorized("expected a Bearer token".into()))
}

/// What the `authenticate` middleware found of a request's bearer token, left in the request's
/// extensions for `Authorized<P>`. The check (signature, then the subject against the database)
/// is async, so it runs before the handler's extractors: extractors are polled together, and an
/// async check inside one let a body's 422 answer before the caller's 403 or 401.
pub struct Authentication(pub Result<Caller, Error>);

/// Checks the request's bearer token: genuine and current, and its subject still as the token
/// says (not disabled, changed, reset or unknown). A failure is a 401.
pub async fn authenticate(req: &HttpRequest) -> Result<Caller, Error> {
    let state = req.app_data::<Data<AppState>>().ok_or_else(|| Error::internal("no app state"))?;
    let verified = state.tokens.verify(bearer(req)?)?;
    crate::service::auth::check_subject(&state.pool, &state.subjects, &verified).await?;
    Ok(verified.caller)
}

impl<P: perm::Perm> FromRequest for Authorized<P> {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = req.extensions_mut().remove::<Authentication>();
        let result = (|| {
            let caller = match checked {
                Some(Authentication(outcome)) => outcome?,
                None => return Err(Error::Unauthorized("missing bearer token".into())),
            };
            if !allows(caller.role, P::PERMISSION) {
                return Err(Error::forbidden());
            }
            let adjusting = adjusting_reason(req, &caller)?;
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            tracing::Span::current().record("caller", tracing::field::display(caller.actor()));
            // Left for `IdempotencyKey`, which needs to know a system client from a person
            // whichever of the two is extracted first.
            req.extensions_mut().insert(Authentication(Ok(caller.clone())));
            Ok(Authorized { caller, request_id, adjusting, _perm: PhantomData })
        })();
        ready(result)
    }
}

/// A write's `Adjusting-Reason` header: only a finance officer sends one (403 before anything
/// else, like every role check); a read ignores it.
fn adjusting_reason(req: &HttpRequest, caller: &Caller) -> Result<Option<Adjusting>, Error> {
    if req.method().is_safe() {
        return Ok(None);
    }
    let Some(value) = req.headers().get(Adjusting::HEADER) else { return Ok(None) };
    crate::domain::books::may_adjust(caller.role)?;
    Ok(Some(Adjusting::parse_header(value.as_bytes())?))
}

/// Any authenticated caller, whatever its role (the permission check is the service's).
pub type AnyCaller = Authorized<perm::ReadFunds>;

/// Used so that `Permission` stays referenced even when every permission has a marker.
#[allow(dead_code)]
const _ALL_PERMISSIONS_HAVE_MARKERS: Permission = Permission::ReadOrgs;

/// Every `POST` that moves money (posts a journal entry), by its route pattern. A system client
/// (a `client_credentials` token) retries, and a retry without a key would post again: these
/// refuse it without an `Idempotency-Key` (428 `idempotency_key_required`); people in a browser
/// may leave the key out. The OpenAPI description of each says so (`http::openapi`), and the
/// write path refuses a client's unkeyed posting on any other route too (`db::write`).
pub const MONEY_POSTS: &[&str] = &[
    "/api/v1/funds",
    "/api/v1/funds/{id}/sources",
    "/api/v1/union-fees/declarations",
    "/api/v1/union-fees/declarations/batch",
    "/api/v1/union-fees/payments",
    "/api/v1/union-fees/remittances",
    "/api/v1/union-fees/remittance-refunds",
    "/api/v1/budgets/{year}/lines",
    "/api/v1/budgets/{year}/appropriations",
    "/api/v1/budgets/{year}/lines/{id}/expenditures",
    "/api/v1/items/{id}/allocations",
    "/api/v1/items/{id}/disbursements",
    "/api/v1/items/{id}/uses",
    "/api/v1/items/{id}/settlement",
    "/api/v1/township-grants/formula",
    "/api/v1/hardship/campaigns/{id}/disbursement",
    "/api/v1/hardship/campaigns/{id}/bank-results",
];

/// What the OpenAPI description of each of `MONEY_POSTS` adds.
pub const MONEY_POST_NOTE: &str = "Moves money: a system client (`client_credentials`) must send `Idempotency-Key` \
     (428 `idempotency_key_required` without it) and retries with the same key; a person may leave it out.";

/// The `Idempotency-Key` header, if sent (1–255 visible ASCII characters). Required of a system
/// client on the routes of `MONEY_POSTS`.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = match req.headers().get("idempotency-key") {
            None => Ok(None),
            Some(v) => match v.to_str() {
                Ok(s) if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Ok(Some(s.to_owned()))
                }
                _ => Err(Error::bad_request("Idempotency-Key", "must be 1–255 visible ASCII characters")),
            },
        };
        let key = key.and_then(|k| match k {
            None if moves_money(req) && is_client(req) => Err(Error::IdempotencyKeyRequired),
            k => Ok(k),
        });
        ready(key.map(IdempotencyKey))
    }
}

/// Whether the request is a `POST` to one of `MONEY_POSTS`.
fn moves_money(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && req.match_pattern().is_some_and(|p| MONEY_POSTS.contains(&p.as_str()))
}

/// Whether the request's token is a system client's (a bad or missing token is `Authorized`'s
/// to refuse, first).
fn is_client(req: &HttpRequest) -> bool {
    use crate::domain::policy::SubjectKind;
    matches!(req.extensions().get::<Authentication>(), Some(Authentication(Ok(c))) if c.kind == SubjectKind::Client)
}

impl IdempotencyKey {
    /// The key bound to the request it came with.
    pub fn with(&self, fingerprint: &str) -> Option<Idempotency> {
        self.0.as_ref().map(|key| Idempotency { key: key.clone(), fingerprint: fingerprint.to_owned() })
    }
}

/// The `If-Match` header, if sent.
#[derive(Debug, Clone)]
pub struct IfMatch(pub Option<String>);

impl FromRequest for IfMatch {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let v = req.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
        ready(Ok(IfMatch(v)))
    }
}

/// The default request-body limit; endpoints that take batches configure their own.
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;

/// A JSON body, parsed strictly: malformed JSON is a 400; a wrong type, a missing or unknown
/// field, a bad amount is a 422 that names the field (via `serde_path_to_error`). Also keeps the
/// request's fingerprint for idempotency: method, path and the body in RFC 8785 canonical form,
/// so that a retry that re-serialises the same JSON still matches.
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 of method, path and canonical body, hex.
    pub fingerprint: String,
}

/// How long a body may take to arrive (app data, from `HttpLimits::body_timeout_ms`).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

const BODY_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(15);

fn timeout_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where a body-size limit other than the default applies (app data of a route).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// SHA-256 (hex) of `head` (method and path) and the body as RFC 8785 canonical JSON (JCS):
/// keys sorted by UTF-16 code units, numbers in their shortest ECMAScript form, strings with the
/// minimal escapes. So two spellings of one JSON value — keys in another order, `1.0` for `1`,
/// `\u0041` for `A` — are one request. `serde_json::Value::to_string()` sorted keys only as long
/// as no crate in the tree enabled `preserve_order`, and kept `1.0` apart from `1`.
pub fn fingerprint(head: &str, body: &serde_json::Value) -> Result<String, Error> {
    let canonical = serde_json_canonicalizer::to_vec(body).map_err(Error::internal)?;
    let mut hasher = Sha256::new();
    hasher.update(head.as_bytes());
    hasher.update(&canonical);
    Ok(hex::encode(hasher.finalize()))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, serde_json::Value), Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's syntax errors name a position, never the text found there.
        let at = format!("malformed JSON at line {} column {}", e.line(), e.column());
        Error::BadRequest { detail: at.clone(), errors: vec![FieldError::new("body", at)] }
    })?;
    refuse_nul(&value)?;
    let parsed = typed(&value)?;
    Ok((parsed, value))
}

/// A body read as JSON and typed later, once the handler has checked what must come first (that
/// the caller may see the object it names): the same 422 naming the field as `JsonBody<T>`.
pub fn typed<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| Error::Validation(vec![refusal(&e, value)]))
}

/// The public form of a deserialisation error: the field and what was expected, never what was
/// sent (an ID number, an account or a password sent as a JSON number would otherwise be quoted
/// back in the 422 and in the log).
fn refusal<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>, body: &serde_json::Value) -> FieldError {
    let raw = e.inner().to_string();
    let sent: Vec<serde_json::Value> = value_at(body, e.path()).into_iter().cloned().collect();
    FieldError::new(field_of(&e.path().to_string(), &raw), public_message(&raw, &sent))
}

/// The value the caller sent at `path`, if the path leads to one.
fn value_at<'v>(body: &'v serde_json::Value, path: &serde_path_to_error::Path) -> Option<&'v serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(body, |v, seg| match seg {
        Segment::Seq { index } => v.get(*index),
        Segment::Map { key } | Segment::Enum { variant: key } => v.get(key.as_str()),
        Segment::Unknown => None,
    })
}

/// serde's messages quote the value they refused (``invalid type: integer `110105…`, expected a
/// string``, ``unknown variant `…` ``, ``unknown field `…` ``). This keeps what the service itself
/// wrote (what was expected, which field is missing) and drops what the caller sent. Any other
/// message (the service's own types say what they expect, never what they got) is kept only if
/// it does not contain a value sent, since a third-party parser may quote its input.
pub fn public_message(raw: &str, sent: &[serde_json::Value]) -> String {
    // The expected part is the service's own wording; the last ", expected " is serde's, since a
    // quoted value could itself contain the phrase.
    let expected = raw.rfind(", expected ").map(|i| &raw[i + ", expected ".len()..]);
    let with_expected = |what: String| match expected {
        Some(exp) => format!("{what}, expected {exp}"),
        None => what,
    };
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
        ("invalid length ", "invalid length"),
        ("unknown variant ", "unknown value"),
    ] {
        if raw.starts_with(prefix) {
            return with_expected(what.to_owned());
        }
    }
    // An unknown field is named when its name is a plain identifier (what the API's fields are).
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let name = rest.split('`').next().map(safe_name).filter(|n| n != "?");
        return with_expected(name.map_or_else(|| "unknown field".to_owned(), |n| format!("unknown field `{n}`")));
    }
    let quotes = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => !s.is_empty() && raw.contains(s.as_str()),
        serde_json::Value::Number(n) => raw.contains(&n.to_string()),
        _ => false,
    };
    if sent.iter().any(quotes) || raw.chars().any(char::is_control) {
        "invalid value".to_owned()
    } else {
        raw.to_owned()
    }
}

/// Refuses a NUL character (U+0000) in any string or key of a body: PostgreSQL's `text` cannot
/// hold one, and no legitimate name, reason or password contains it. A 422 naming the field.
fn refuse_nul(value: &serde_json::Value) -> Result<(), Error> {
    match nul_at(value) {
        None => Ok(()),
        Some(mut path) => {
            path.reverse();
            let field =
                if path.is_empty() { "body".to_owned() } else { path.concat().trim_start_matches('.').to_owned() };
            Err(Error::invalid(field, "must not contain the NUL character (U+0000)"))
        }
    }
}

/// Where the first NUL is, as path segments from the innermost out; `None` when there is none.
/// The path is built only on the way back from a NUL, so a clean body (a batch of thousands of
/// rows) costs a walk and no allocation.
fn nul_at(value: &serde_json::Value) -> Option<Vec<String>> {
    use serde_json::Value as V;
    match value {
        V::String(s) => s.contains('\0').then(Vec::new),
        V::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut path = nul_at(item)?;
            path.push(format!("[{i}]"));
            Some(path)
        }),
        V::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(Vec::new());
            }
            let mut path = nul_at(item)?;
            path.push(format!(".{}", safe_name(key)));
            Some(path)
        }),
        _ => None,
    }
}

/// A key from the caller as it may appear in a field path: a plain identifier (what every field
/// of the API is), else `?` — a key could be an ID number pasted into the wrong place.
fn safe_name(key: &str) -> String {
    let plain = key.len() <= 64
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain { key.to_owned() } else { "?".to_owned() }
}

/// The field a deserialisation error is about. serde reports a missing or unknown field at the
/// path of the object that holds it, naming the field only in its message (``missing field `x` ``),
/// so the name is taken from there and appended to the path.
pub fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(safe_name);
    // serde's path names map keys as they were sent: an unknown key is the caller's text.
    let path = path
        .split('.')
        .map(|seg| {
            let (name, index) = seg.find('[').map_or((seg, ""), |i| seg.split_at(i));
            if name.is_empty() || name == "?" { seg.to_owned() } else { format!("{}{index}", safe_name(name)) }
        })
        .collect::<Vec<_>>()
        .join(".");
    match (path.as_str(), named) {
        (".", Some(name)) => name,
        (".", None) => "body".to_owned(),
        // An unknown field's path already ends with its name.
        (path, Some(name)) if path.rsplit('.').next() != Some(name.as_str()) => format!("{path}.{name}"),
        (path, _) => path.to_owned(),
    }
}

/// Parses each row of a batch on its own, so that a 422 names every bad row (`rows[i].field`)
/// at once; 1 to `max` rows.
pub fn parse_rows<T: DeserializeOwned>(raw: Vec<serde_json::Value>, max: usize) -> Result<Vec<T>, Error> {
    if raw.is_empty() || raw.len() > max {
        return Err(Error::invalid("rows", format!("must hold 1 to {max} rows")));
    }
    let mut rows = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(r) => rows.push(r),
            Err(e) => {
                let FieldError { field, message } = refusal(&e, &value);
                let field = if field == "body" { format!("rows[{i}]") } else { format!("rows[{i}].{field}") };
                errors.push(FieldError::new(field, message));
            }
        }
    }
    if errors.is_empty() { Ok(rows) } else { Err(Error::Validation(errors)) }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(BODY_LIMIT_BYTES, |l| l.0);
        let timeout = req.app_data::<BodyTimeout>().map_or(BODY_TIMEOUT_DEFAULT, |t| t.0);
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime_json() || m.suffix() == Some(mime_json()));
        let head = format!("{} {}\n", req.method(), req.path());
        let mut stream = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(Error::UnsupportedMediaType);
            }
            // Read up to the limit. Past it, keep reading (and dropping) what the client sends, up
            // to a bound, so that it receives a clear 413 rather than a connection reset mid-upload.
            // The whole body must arrive within the body timeout: a client trickling a byte at a
            // time would otherwise hold its connection (and a worker's attention) for ever.
            let read = async {
                let mut body = web::BytesMut::new();
                let mut seen: usize = 0;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk
                        .map_err(|_| Error::BadRequest { detail: "could not read the body".into(), errors: vec![] })?;
                    seen = seen.saturating_add(chunk.len());
                    if seen <= limit {
                        body.extend_from_slice(&chunk);
                    } else if seen > limit.saturating_mul(16).max(64 * 1024 * 1024) {
                        break;
                    }
                }
                if seen > limit {
                    return Err(Error::PayloadTooLarge { limit_bytes: limit });
                }
                Ok(body)
            };
            let body = tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| Error::RequestTimeout { limit_ms: timeout_ms(timeout) })??;
            let bytes = body.freeze();
            let (value, canonical) = parse_json(&bytes)?;
            Ok(JsonBody { value, fingerprint: fingerprint(&head, &canonical)? })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn errors_name_the_field_even_when_serde_reports_the_parent() {
        assert_eq!(field_of(".", "missing field `name`"), "name");
        assert_eq!(field_of("rows[3]", "unknown field `extra`, expected one of `a`"), "rows[3].extra");
        assert_eq!(field_of("amount", "must be a string"), "amount");
        assert_eq!(field_of("kind", "unknown field `kind`, expected `name`"), "kind");
        assert_eq!(field_of(".", "invalid type: integer `5`, expected a map"), "body");
        assert_eq!(field_of(".", "unknown field `11010519491231002X`, expected `a`"), "?");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn spellings_that_jcs_equates_have_one_fingerprint() {
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let head = "POST /api/v1/union-fees/payments\n";
        let a = parse(r#"{"org_id":"u","period":"2022-01","amount":"10.00","reference":"A-1","n":1,"x":[1e2,0.5]}"#);
        // Keys in another order, white space, an escaped letter, other number spellings.
        let b = parse(
            r#" { "x" : [100.0, 5E-1], "n": 1.0, "reference": "\u0041-1", "amount": "10.00",
                  "period": "2022-01", "org_id": "\u0075" } "#,
        );
        assert_eq!(super::fingerprint(head, &a).unwrap(), super::fingerprint(head, &b).unwrap());
        // Another value, or the same body on another path, is another request.
        let c = parse(r#"{"org_id":"u","period":"2022-01","amount":"10.01","reference":"A-1","n":1,"x":[1e2,0.5]}"#);
        assert_ne!(super::fingerprint(head, &a).unwrap(), super::fingerprint(head, &c).unwrap());
        assert_ne!(
            super::fingerprint(head, &a).unwrap(),
            super::fingerprint("POST /api/v1/union-fees/remittances\n", &a).unwrap()
        );
        // Nested objects are canonical too; a string of digits is not the number.
        let d = parse(r#"{"a":{"z":1,"b":[{"y":true,"c":null}]},"s":"1"}"#);
        let e = parse(r#"{"s":"1","a":{"b":[{"c":null,"y":true}],"z":1}}"#);
        assert_eq!(super::fingerprint(head, &d).unwrap(), super::fingerprint(head, &e).unwrap());
        let f = parse(r#"{"s":1,"a":{"b":[{"c":null,"y":true}],"z":1}}"#);
        assert_ne!(super::fingerprint(head, &d).unwrap(), super::fingerprint(head, &f).unwrap());
    }

    #[test]
    fn a_nul_is_named_by_its_field_path() {
        use serde_json::json;
        let field = |v: serde_json::Value| match super::refuse_nul(&v) {
            Err(crate::error::Error::Validation(e)) => e[0].field.clone(),
            other => panic!("{:?}", other.err()),
        };
        assert_eq!(field(json!({"reason": "a\u{0}b"})), "reason");
        assert_eq!(field(json!({"rows": [{"a": "x"}, {"bank_account": "\u{0}"}]})), "rows[1].bank_account");
        assert_eq!(field(json!({"rows": [{"a\u{0}": 1}]})), "rows[0]");
        assert_eq!(field(json!({"a\u{0}": 1})), "body");
        assert!(super::refuse_nul(&json!({"rows": [{"a": "x"}], "n": 1})).is_ok());
    }

    #[test]
    fn messages_say_what_was_expected_never_what_was_sent() {
        use serde_json::json;
        let id = "11010519491231002X";
        let cases = [
            ("invalid type: integer `110105194912310020`, expected a string", "invalid type, expected a string"),
            ("invalid type: string \"11010519491231002X\", expected i32", "invalid type, expected i32"),
            ("invalid value: string \"x, expected y\", expected a uuid", "invalid value, expected a uuid"),
            ("unknown variant `11010519491231002X`, expected `a` or `b`", "unknown value, expected `a` or `b`"),
            ("unknown field `colour`, expected `name`", "unknown field `colour`, expected `name`"),
            ("unknown field `11010519491231002X`, expected `name`", "unknown field, expected `name`"),
            ("invalid length 3, expected 2 items", "invalid length, expected 2 items"),
            ("missing field `amount`", "missing field `amount`"),
            ("must be 18 characters", "must be 18 characters"),
        ];
        for (raw, public) in cases {
            assert_eq!(super::public_message(raw, &[json!(id)]), public, "{raw}");
        }
        // A third-party parser that quotes its input is not repeated.
        assert_eq!(super::public_message(&format!("bad input {id}"), &[json!(id)]), "invalid value");
        assert_eq!(super::public_message("bad\nERROR forged", &[]), "invalid value");
    }
}

fn mime_json() -> mime::Name<'static> {
    mime::JSON
}

/// `limit` and `cursor` of a list (API.md, "Lists").
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated page.
    pub fn page(&self) -> Result<Page, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 500"));
        }
        Ok(Page { limit, cursor: self.cursor.clone() })
    }
}

/// A budget year from a path or query: 2000–2100, else a 422 naming `year`.
pub fn year(year: i32) -> Result<i32, Error> {
    if (2000..=2100).contains(&year) { Ok(year) } else { Err(Error::invalid("year", "must be between 2000 and 2100")) }
}
