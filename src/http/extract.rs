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
    "/api/v1/union-fees/payments/batch",
    "/api/v1/union-fees/remittances",
    "/api/v1/union-fees/remittances/batch",
    "/api/v1/union-fees/remittance-refunds",
    "/api/v1/union-fees/upper-remittances",
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

/// A JSON body, parsed strictly and read into what the handler needs: the request type `R`
/// (what JSON holds), then the command `C` built from it by `C::try_from` (by default `R`
/// itself). Malformed JSON is a 400; anything else wrong is one 422 naming every bad field at
/// once — a wrong type, a missing or unknown field, a bad amount (via `serde_path_to_error`),
/// and every refusal of the command's own checks on the fields that could be read (see
/// [`command`]). Also keeps the request's fingerprint for idempotency: method, path and the
/// body in RFC 8785 canonical form, so that a retry that re-serialises the same JSON still
/// matches.
pub struct JsonBody<R, C = R> {
    /// The command (or the parsed body, when `C` is `R`).
    pub value: C,
    /// SHA-256 of method, path and canonical body, hex.
    pub fingerprint: String,
    _request: PhantomData<fn() -> R>,
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

fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's syntax errors name a position, never the text found there.
        let at = format!("malformed JSON at line {} column {}", e.line(), e.column());
        Error::BadRequest { detail: at.clone(), errors: vec![FieldError::new("body", at)] }
    })?;
    refuse_nul(&value)?;
    Ok(value)
}

/// A body read as JSON and typed later, once the handler has checked what must come first (that
/// the caller may see the object it names): the same 422 naming every bad field as `JsonBody<T>`.
pub fn typed<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, Error> {
    command::<T, T>(value)
}

/// Reads a body as the request type `R`, then builds the command `C` from it, answering one 422
/// that names every bad field: each field serde refuses (a wrong type, a bad amount, an unknown
/// value, a missing or unknown field), once, and every refusal of `C::try_from` on the fields
/// that could be read, ordered as `R` lists its fields.
///
/// serde stops at the first field it refuses, so a refused field is named and then stood in for,
/// in a copy of the body, by a placeholder its type accepts (the first value its enumeration
/// names, `"0.00"`, a nil UUID, `0`, `false`, a month, a date, `[]`, `{}`, `null`; an unknown
/// field is removed), and the copy is read again, until it reads or nothing stands in for a
/// field. Then the command is built from the copy. Its refusals of a field that was stood in
/// for, or that holds or is held by one, are dropped: they judge the placeholder. So is any
/// refusal that comes or goes when a placeholder is swapped for another value its type accepts
/// (the enumeration's other values, `"1"`, …): it compares a readable field with one that was
/// not ("only an upper_allocation can require matching" against a `kind` that could not be
/// read). At most `READINGS_MAX` readings, so that a body of thousands of bad fields costs a
/// bounded time. A body that reads costs one reading, as before.
pub fn command<R, C>(body: &serde_json::Value) -> Result<C, Error>
where
    R: DeserializeOwned,
    C: TryFrom<R>,
    Error: From<C::Error>,
{
    let first = match serde_path_to_error::deserialize::<_, R>(body) {
        Ok(request) => {
            return C::try_from(request).map_err(|e| match Error::from(e) {
                Error::Validation(mut errors) => {
                    in_field_order::<R>(&mut errors);
                    Error::Validation(errors)
                }
                other => other,
            });
        }
        Err(e) => e,
    };
    let mut reading = Reading::<R>::new(body);
    let parsed = reading.stand_in(first);
    let mut errors: Vec<FieldError> = reading.refused.iter().map(|(_, e)| e.clone()).collect();
    if let Some(request) = parsed {
        errors.extend(reading.own_refusals::<C>(request));
    }
    in_field_order::<R>(&mut errors);
    Err(Error::Validation(errors))
}

/// How many times, at most, one body is read to find its bad fields and check the command's
/// refusals against other placeholders. Each reading is a pass over the body (up to 256 KiB,
/// or one row of a batch), so this bounds what a body of thousands of bad fields costs; such a
/// body is answered with the fields found by then.
const READINGS_MAX: usize = 256;

/// One step of a field's path in a body: a key of an object, or an index of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Whether one path is the other, or holds it: a check of one says something of the other.
fn related(a: &[Step], b: &[Step]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// The steps of a path serde reported, if it can be followed (a non-string key cannot).
fn steps_of(path: &serde_path_to_error::Path) -> Option<Vec<Step>> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|seg| match seg {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } | Segment::Enum { variant: key } => Some(Step::Key(key.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// The steps of a field as a `FieldError` names it: `rows[3].amount`, `lines`, `body` (the root).
fn steps_of_field(field: &str) -> Vec<Step> {
    if field == "body" {
        return Vec::new();
    }
    let mut steps = Vec::new();
    for part in field.split('.') {
        let (name, indices) = part.find('[').map_or((part, ""), |i| part.split_at(i));
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            let index = index.trim_end_matches(']');
            steps.push(index.parse().map_or_else(|_| Step::Key(index.to_owned()), Step::Index));
        }
    }
    steps
}

/// What may stand in a refused field's place.
#[derive(Debug, Clone)]
enum Stand {
    /// This value.
    Put(serde_json::Value),
    /// No key at all: an unknown field.
    Remove,
}

/// The placeholders tried, in order, for a refused field, after the values its enumeration
/// names: one value of each shape the request types hold (text and amounts and rates, ids,
/// numbers, flags, months, dates, lists, objects, optional values). Never "no key": serde reads
/// a missing field last, so a removal would seem to help while only putting the refusal off.
fn placeholders() -> Vec<Stand> {
    use serde_json::Value as V;
    let nil = V::String(uuid::Uuid::nil().to_string());
    [V::from("0.00"), nil, V::from(0), V::Bool(false), V::from("2022-01"), V::from("2022-01-01")]
        .into_iter()
        .chain([V::Array(Vec::new()), V::Object(serde_json::Map::new()), V::Null])
        .map(Stand::Put)
        .collect()
}

/// Second values of the same shapes, tried first when a placeholder is swapped for another to see
/// whether a refusal of the command depends on it.
fn second_values() -> Vec<serde_json::Value> {
    use serde_json::Value as V;
    let one = V::String(uuid::Uuid::from_u128(1).to_string());
    vec![V::from("1"), one, V::from(1), V::Bool(true), V::from("2022-02"), V::from("2022-01-02"), V::from("x")]
}

/// The values an `unknown variant` refusal lists as expected: the service's own names, never
/// the caller's (the last ", expected " is serde's, whatever the value sent contained).
fn variants_named(raw: &str) -> Vec<String> {
    let Some(i) = raw.rfind(", expected ").filter(|_| raw.starts_with("unknown variant ")) else {
        return Vec::new();
    };
    raw[i + ", expected ".len()..].split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// A refusal's message saying which values the field takes, in serde's words (`` `a` or `b` ``,
/// ``one of `a`, `b`, `c` ``) instead of what it said it expected.
fn expecting(message: &str, variants: &[String]) -> String {
    let what = message.rfind(", expected ").map_or(message, |i| &message[..i]);
    let quoted: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
    match quoted.as_slice() {
        [one] => format!("{what}, expected {one}"),
        [a, b] => format!("{what}, expected {a} or {b}"),
        all => format!("{what}, expected one of {}", all.join(", ")),
    }
}

/// Where a serde refusal is, in steps, and whether it is an unknown field (which only removal
/// fixes). serde reports a missing field at the object that lacks it, naming it in the message;
/// an unknown one at its own key.
fn spot_of<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Option<(Vec<Step>, bool)> {
    let mut at = steps_of(e.path())?;
    let raw = e.inner().to_string();
    if let Some(name) = raw.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        at.push(Step::Key(name.to_owned()));
        return Some((at, false));
    }
    if raw.starts_with("unknown field `") {
        return matches!(at.last(), Some(Step::Key(_))).then_some((at, true));
    }
    Some((at, false))
}

/// The value at `at`, to change it.
fn slot<'v>(value: &'v mut serde_json::Value, at: &[Step]) -> Option<&'v mut serde_json::Value> {
    at.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.as_object_mut()?.get_mut(k),
        Step::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

/// Puts `stand` at `at` (adding the key when missing); false when there is no place for it.
fn put(body: &mut serde_json::Value, at: &[Step], stand: &Stand) -> bool {
    let Some((last, parent)) = at.split_last() else {
        return match stand {
            Stand::Put(v) => {
                *body = v.clone();
                true
            }
            Stand::Remove => false,
        };
    };
    match (slot(body, parent), last, stand) {
        (Some(serde_json::Value::Object(map)), Step::Key(k), Stand::Put(v)) => {
            map.insert(k.clone(), v.clone());
            true
        }
        (Some(serde_json::Value::Object(map)), Step::Key(k), Stand::Remove) => {
            map.remove(k);
            true
        }
        (Some(serde_json::Value::Array(items)), Step::Index(i), Stand::Put(v)) if *i < items.len() => {
            items[*i] = v.clone();
            true
        }
        _ => false,
    }
}

/// A placeholder standing in a refused field's place in the copy of the body.
struct Stood {
    at: Vec<Step>,
    stand: Stand,
    /// The values of the field's enumeration, when serde named them.
    variants: Vec<String>,
}

/// A copy of a body being read again with placeholders (see [`command`]).
struct Reading<'b, R> {
    /// The caller's body, for the public form of each refusal.
    body: &'b serde_json::Value,
    working: serde_json::Value,
    /// What serde refused, where, in the order found.
    refused: Vec<(Vec<Step>, FieldError)>,
    stood: Vec<Stood>,
    readings: usize,
    _request: PhantomData<fn() -> R>,
}

impl<'b, R: DeserializeOwned> Reading<'b, R> {
    fn new(body: &'b serde_json::Value) -> Self {
        Reading {
            body,
            working: body.clone(),
            refused: Vec::new(),
            stood: Vec::new(),
            readings: 1,
            _request: PhantomData,
        }
    }

    /// Reads the copy again, once more; `None` past `READINGS_MAX`.
    fn read(&mut self) -> Option<Result<R, serde_path_to_error::Error<serde_json::Error>>> {
        if self.readings >= READINGS_MAX {
            return None;
        }
        self.readings += 1;
        Some(serde_path_to_error::deserialize::<_, R>(&self.working))
    }

    /// Names the field `error` is about and stands a placeholder in for it, then for each field
    /// refused after it, until the copy reads (its request, returned) or nothing stands in for
    /// a field (`None`). Each round names a field not named before, so it ends; `READINGS_MAX`
    /// bounds it besides.
    fn stand_in(&mut self, mut error: serde_path_to_error::Error<serde_json::Error>) -> Option<R> {
        'fields: loop {
            let (at, unknown) = spot_of(&error)?;
            if self.refused.iter().any(|(named, _)| *named == at) {
                return None;
            }
            self.refused.push((at.clone(), refusal(&error, self.body)));
            let mut variants = variants_named(&error.inner().to_string());
            let mut queue: std::collections::VecDeque<Stand> = if unknown {
                [Stand::Remove].into()
            } else {
                variants.iter().map(|v| Stand::Put(v.as_str().into())).chain(placeholders()).collect()
            };
            while let Some(stand) = queue.pop_front() {
                if !put(&mut self.working, &at, &stand) {
                    continue;
                }
                match self.read()? {
                    Ok(request) => {
                        self.stood.push(Stood { at, stand, variants });
                        return Some(request);
                    }
                    Err(next) => match spot_of(&next) {
                        // Refused again, there or inside: the placeholder did not fit. A value
                        // of another type may tell what the field takes (an enumeration's values).
                        Some((next_at, _)) if next_at.starts_with(&at) => {
                            let learned = variants_named(&next.inner().to_string());
                            if variants.is_empty() && !learned.is_empty() {
                                // A number where a value is expected: say which values.
                                if let Some((_, refusal)) = self.refused.last_mut() {
                                    refusal.message = expecting(&refusal.message, &learned);
                                }
                            }
                            for v in learned.into_iter().rev() {
                                if !variants.contains(&v) {
                                    queue.push_front(Stand::Put(v.as_str().into()));
                                    variants.insert(0, v);
                                }
                            }
                        }
                        Some(_) => {
                            self.stood.push(Stood { at, stand, variants });
                            error = next;
                            continue 'fields;
                        }
                        None => {}
                    },
                }
            }
            return None;
        }
    }

    /// The refusals of `C::try_from` on the copy that judge what the caller sent: none of a field
    /// serde refused or a placeholder stands in for (or that holds or is held by one), and none
    /// that comes or goes when a placeholder is swapped for another value its field accepts.
    fn own_refusals<C>(&mut self, request: R) -> Vec<FieldError>
    where
        C: TryFrom<R>,
        Error: From<C::Error>,
    {
        let refusals = |request: R| match C::try_from(request).map_err(Error::from) {
            Err(Error::Validation(errors)) => errors,
            _ => Vec::new(),
        };
        let mut own = refusals(request);
        let touched: Vec<&[Step]> = self
            .refused
            .iter()
            .map(|(at, _)| at.as_slice())
            .chain(self.stood.iter().map(|s| s.at.as_slice()))
            .collect();
        own.retain(|e| !touched.iter().any(|at| related(at, &steps_of_field(&e.field))));
        for i in 0..self.stood.len() {
            let (at, stand) = (self.stood[i].at.clone(), self.stood[i].stand.clone());
            let enumerated = !self.stood[i].variants.is_empty();
            let others: Vec<Stand> = if enumerated {
                self.stood[i].variants.iter().map(|v| Stand::Put(v.as_str().into())).collect()
            } else if matches!(stand, Stand::Remove) {
                Vec::new()
            } else {
                second_values().into_iter().map(Stand::Put).chain(placeholders()).collect()
            };
            for other in others {
                if own.is_empty() {
                    return own;
                }
                if matches!((&other, &stand), (Stand::Put(a), Stand::Put(b)) if a == b)
                    || !put(&mut self.working, &at, &other)
                {
                    continue;
                }
                let Some(read) = self.read() else { break };
                if let Ok(request) = read {
                    let theirs: std::collections::HashSet<(String, String)> =
                        refusals(request).into_iter().map(|e| (e.field, e.message)).collect();
                    own.retain(|e| theirs.contains(&(e.field.clone(), e.message.clone())));
                    // Every value of an enumeration is tried; of any other type, one more is enough.
                    if !enumerated {
                        break;
                    }
                }
            }
            put(&mut self.working, &at, &stand);
        }
        own
    }
}

/// The fields of a struct as its serde derive lists them (its declaration order); none for any
/// other type. Read by a deserializer that only records what `deserialize_struct` is given.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Orders a 422's errors as `R` lists its fields (a refusal of the whole body first, fields `R`
/// does not know last), the rows of a list by index; otherwise in the order found.
fn in_field_order<R: DeserializeOwned>(errors: &mut [FieldError]) {
    let fields = field_names::<R>();
    errors.sort_by_cached_key(|e| {
        let steps = steps_of_field(&e.field);
        let rank = match steps.first() {
            None => 0,
            Some(Step::Key(k)) => fields.iter().position(|f| f == k).map_or(usize::MAX, |i| i + 1),
            Some(Step::Index(_)) => usize::MAX,
        };
        let index = match steps.get(1) {
            Some(Step::Index(i)) => Some(*i),
            _ => None,
        };
        (rank, index)
    });
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
    steps_of(path)?.iter().try_fold(body, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
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

/// Reads each row of a batch on its own into `C` (through `R`, as [`command`] reads a body),
/// so that a 422 names every bad field of every bad row at once (`rows[i].field`, `rows[i]` for
/// the row as a whole): the refusals go to `errors`, and the rows that read are returned. 1 to
/// `max` rows, else a refusal of `rows`.
pub fn parse_rows<R, C>(raw: &[serde_json::Value], max: usize, errors: &mut Vec<FieldError>) -> Vec<C>
where
    R: DeserializeOwned,
    C: TryFrom<R>,
    Error: From<C::Error>,
{
    if raw.is_empty() || raw.len() > max {
        errors.push(FieldError::new("rows", format!("must hold 1 to {max} rows")));
        return Vec::new();
    }
    let mut rows = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let in_row = |field: &str| if field == "body" { format!("rows[{i}]") } else { format!("rows[{i}].{field}") };
        match command::<R, C>(value) {
            Ok(row) => rows.push(row),
            Err(Error::Validation(refused)) => {
                errors.extend(refused.into_iter().map(|e| FieldError::new(in_row(&e.field), e.message)));
            }
            Err(other) => errors.push(FieldError::new(in_row("body"), other.to_string())),
        }
    }
    rows
}

impl<R, C> FromRequest for JsonBody<R, C>
where
    R: DeserializeOwned + 'static,
    C: TryFrom<R> + 'static,
    Error: From<C::Error>,
{
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
            let canonical = parse_json(&bytes)?;
            let value = command::<R, C>(&canonical)?;
            Ok(JsonBody { value, fingerprint: fingerprint(&head, &canonical)?, _request: PhantomData })
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

/// The placeholder loop of [`command`]: every bad field named once, the command's own checks on
/// the rest, nothing that judged a placeholder, and an end on any body.
#[cfg(test)]
mod reading_tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::{FieldError, command, parse_rows};
    use crate::domain::ids::ResidentId;
    use crate::domain::money::Money;
    use crate::error::Error;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Donation,
        UpperAllocation,
        Other,
    }

    /// A request shaped like the service's: text, an ID number, an enumeration, amounts, a list.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        worker_name: String,
        id_number: String,
        kind: Kind,
        requested_amount: Money,
        matching_ratio: Option<Money>,
        members: Option<u32>,
        lines: Option<Vec<Line>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        amount: Money,
    }

    /// The command: each check names its field; two compare fields with each other.
    #[derive(Debug)]
    struct Command;

    impl TryFrom<Request> for Command {
        type Error = Error;
        fn try_from(r: Request) -> Result<Self, Error> {
            let mut errors = Vec::new();
            if r.worker_name.chars().count() > 10 {
                errors.push(FieldError::new("worker_name", "must be at most 10 characters"));
            }
            if let Err(e) = ResidentId::parse(&r.id_number) {
                errors.push(FieldError::new("id_number", e.to_string()));
            }
            if r.requested_amount.is_zero() {
                errors.push(FieldError::new("requested_amount", "must be more than 0.00"));
            }
            if r.members.is_some_and(|m| m > 50) {
                errors.push(FieldError::new("members", "must be at most 50"));
            }
            if r.matching_ratio.is_some() && r.kind != Kind::UpperAllocation {
                errors.push(FieldError::new("matching_ratio", "only an upper_allocation can require matching"));
            }
            if let Some(lines) = &r.lines
                && Money::checked_sum(lines.iter().map(|l| l.amount)) != Some(r.requested_amount)
            {
                errors.push(FieldError::new("lines", format!("must add up to {}", r.requested_amount)));
            }
            if errors.is_empty() { Ok(Command) } else { Err(Error::Validation(errors)) }
        }
    }

    fn good_id() -> String {
        let first17 = "11010519491231002";
        format!("{first17}{}", ResidentId::check_char(first17).unwrap())
    }

    fn bad_id() -> String {
        let good = good_id();
        let wrong = if good.ends_with('1') { '2' } else { '1' };
        format!("{}{wrong}", &good[..17])
    }

    fn good() -> Value {
        json!({"worker_name": "李春梅", "id_number": good_id(), "kind": "donation", "requested_amount": "100.00"})
    }

    fn refused(body: &Value) -> Vec<FieldError> {
        match command::<Request, Command>(body) {
            Err(Error::Validation(errors)) => errors,
            other => panic!("{body}: {other:?}"),
        }
    }

    fn fields(body: &Value) -> Vec<String> {
        refused(body).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_good_body_reads_and_a_bad_check_alone_is_named() {
        assert!(command::<Request, Command>(&good()).is_ok());
        let mut b = good();
        b["id_number"] = json!(bad_id());
        assert_eq!(fields(&b), ["id_number"]);
    }

    #[test]
    fn a_bad_id_number_next_to_a_three_decimal_amount_names_both_and_quotes_neither() {
        let mut b = good();
        b["id_number"] = json!(bad_id());
        b["requested_amount"] = json!("100.005");
        let errors = refused(&b);
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["id_number", "requested_amount"], "in the order the request type lists them");
        // The amount is named for its decimals, once: not also for its placeholder's zero.
        assert_eq!(errors[1].message, "must have at most two decimals (whole fen)");
        let text = format!("{errors:?}");
        assert!(!text.contains(&bad_id()) && !text.contains("100.005"), "{text}");
    }

    #[test]
    fn three_wrong_types_are_three_fields_each_named_once() {
        let mut b = good();
        b["worker_name"] = json!(42);
        b["requested_amount"] = json!(100);
        b["members"] = json!("three");
        let errors = refused(&b);
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["worker_name", "requested_amount", "members"]);
        assert_eq!(errors[0].message, "invalid type, expected a string");
        assert_eq!(errors[1].message, "must be a string with at most two decimals, like \"1500.00\"");
    }

    #[test]
    fn an_unknown_value_next_to_a_too_long_text_names_both() {
        let mut b = good();
        b["kind"] = json!(bad_id());
        b["worker_name"] = json!("a name far longer than ten characters");
        let errors = refused(&b);
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["worker_name", "kind"]);
        assert!(errors[1].message.contains("`upper_allocation`") && !errors[1].message.contains(&bad_id()));
        // A number where a value is expected: the same, and the values are listed too.
        b["kind"] = json!(7);
        let errors = refused(&b);
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["worker_name", "kind"]);
        assert_eq!(errors[1].message, "invalid type, expected one of `donation`, `upper_allocation`, `other`");
    }

    #[test]
    fn missing_unknown_and_mistyped_fields_are_all_named() {
        let b = json!({"worker_name": "王", "kind": "other", "requested_amount": true, "colour": "red"});
        assert_eq!(fields(&b), ["id_number", "requested_amount", "colour"], "unknown fields last");
        assert_eq!(fields(&json!({})), ["worker_name", "id_number", "kind", "requested_amount"]);
    }

    #[test]
    fn a_check_that_compares_a_readable_field_with_an_unreadable_one_is_not_reported() {
        // `kind` cannot be read: whether the ratio is allowed depends on what it was meant to be.
        let mut b = good();
        b["kind"] = json!("upper_alocation");
        b["matching_ratio"] = json!("0.50");
        assert_eq!(fields(&b), ["kind"]);
        // The lines cannot be added up when one of them, or the amount, cannot be read.
        let mut b = good();
        b["lines"] = json!([{"amount": "60.00"}, {"amount": "40.001"}]);
        assert_eq!(fields(&b), ["lines[1].amount"]);
        let mut b = good();
        b["requested_amount"] = json!("100.001");
        b["lines"] = json!([{"amount": "60.00"}, {"amount": "40.00"}]);
        assert_eq!(fields(&b), ["requested_amount"]);
        // A check that does not depend on the unreadable field still is.
        b["id_number"] = json!(bad_id());
        assert_eq!(fields(&b), ["id_number", "requested_amount"]);
    }

    #[test]
    fn the_loop_ends_where_no_placeholder_fits() {
        /// Refuses every value.
        #[derive(Debug)]
        struct Never;
        impl<'de> Deserialize<'de> for Never {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Err(serde::de::Error::custom("never"))
            }
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Hopeless {
            a: u32,
            never: Never,
            z: u32,
        }
        let named = |b: Value| match super::typed::<Hopeless>(&b) {
            Err(Error::Validation(e)) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        // `a` is stood in for, `never` takes nothing: the answer names both, and stops there.
        assert_eq!(named(json!({"a": "x", "never": 1, "z": "y"})), ["a", "never"]);
        // A field of a required object sent as a number: no placeholder fits inside it.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Line,
            n: u32,
        }
        match super::typed::<Outer>(&json!({"inner": 5, "n": "x"})) {
            Err(Error::Validation(e)) => assert_eq!(e[0].field, "inner"),
            other => panic!("{other:?}"),
        }
        // Thousands of bad fields: bounded by READINGS_MAX, and what was found is named.
        let many: Vec<Value> = (0..5000).map(|i| json!({"amount": i})).collect();
        match super::typed::<Vec<Line>>(&Value::Array(many)) {
            Err(Error::Validation(e)) => assert!(!e.is_empty() && e.len() <= super::READINGS_MAX, "{}", e.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bad_field_of_every_bad_row_is_named_in_row_order() {
        let row = |amount: Value, id: Value| json!({"worker_name": "王", "id_number": id, "kind": "donation", "requested_amount": amount});
        let rows = vec![
            row(json!("1.00"), json!(good_id())),
            row(json!("1.001"), json!(bad_id())),
            row(json!("1.00"), json!(good_id())),
            row(json!(5), json!(110105)),
        ];
        let mut errors = Vec::new();
        let read: Vec<Command> = parse_rows::<Request, Command>(&rows, 10, &mut errors);
        assert_eq!(read.len(), 2);
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            ["rows[1].id_number", "rows[1].requested_amount", "rows[3].id_number", "rows[3].requested_amount"]
        );
        let mut errors = Vec::new();
        parse_rows::<Request, Command>(&[], 10, &mut errors);
        assert_eq!(errors[0].field, "rows");
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
