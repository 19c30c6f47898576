//! `/api/v1/books/...`: closing a year's books, and where each year stands.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::books::BookAction;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::books::{self, AdjustingEntryView, BookYearView};

/// The body of an action on a year's books.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BookActionRequest {
    /// Why (1–2,000 characters): required to ask for the close and to turn it down; recorded in
    /// the audit event.
    #[schema(example = "2022年度决算完成，经费审查委员会已审核")]
    pub reason: Option<String>,
}

async fn act(
    state: &AppState,
    caller: crate::db::write::WriteCtx,
    key: &IdempotencyKey,
    if_match: IfMatch,
    year: i32,
    action: BookAction,
    body: JsonBody<BookActionRequest>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year)?;
    books::act(&state.pool, caller, key.with(&body.fingerprint), if_match.0, year, action, body.value.reason)
        .await
        .map(super::stored)
}

/// Lists the years that have books (a fund) or were asked to close, oldest first: each with its
/// state and its adjusting entries.
#[utoipa::path(get, path = "/api/v1/books", tag = "books", params(PageQuery),
    responses((status = 200, body = inline(Listed<BookYearView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/books")]
pub async fn list_books(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadBooks>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(books::list(&state.pool, q.page()?).await?))
}

/// Where a year's books stand: `open` (also when never asked to close), `closing` or `closed`;
/// who asked and who closed, when; how many adjusting entries were posted since and what they
/// moved. The `ETag` is what `If-Match` names on the year's actions (`"0"` for a year never asked
/// to close).
#[utoipa::path(get, path = "/api/v1/books/{year}", tag = "books", params(("year" = i32, Path)),
    responses((status = 200, body = BookYearView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/books/{year}")]
pub async fn get_book_year(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadBooks>,
    year: Path<i32>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    let (view, etag) = books::get(&state.pool, year).await?;
    Ok(super::with_etag(&view, etag))
}

/// Asks to close a year's books (finance officer, with a `reason`): `open` → `closing`. Years
/// close in order: 409 `previous_year_open` while an earlier year with books is not closed.
/// The books stay open until a leader closes them.
#[utoipa::path(post, path = "/api/v1/books/{year}/close", tag = "books", request_body = BookActionRequest,
    params(("year" = i32, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BookYearView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/books/{year}/close")]
pub async fn request_year_close(
    state: Data<AppState>,
    caller: Authorized<perm::RequestYearClose>,
    key: IdempotencyKey,
    if_match: IfMatch,
    year: Path<i32>,
    body: JsonBody<BookActionRequest>,
) -> Result<HttpResponse, Error> {
    act(&state, caller.write_ctx(), &key, if_match, year.into_inner(), BookAction::Close, body).await
}

/// Closes a year's books (a leader, never the one who asked: 403 `separation_of_duties`):
/// `closing` → `closed`, for good. From then on a declaration, payment, remittance, item stage,
/// expenditure, appropriation, source or budget dated in the year is 409 `period_closed`, unless
/// it is an adjusting entry (header `Adjusting-Reason`, finance officer only). The close waits
/// for the writes under way in the year.
#[utoipa::path(post, path = "/api/v1/books/{year}/approve", tag = "books", request_body = BookActionRequest,
    params(("year" = i32, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BookYearView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/books/{year}/approve")]
pub async fn approve_year_close(
    state: Data<AppState>,
    caller: Authorized<perm::ApproveYearClose>,
    key: IdempotencyKey,
    if_match: IfMatch,
    year: Path<i32>,
    body: JsonBody<BookActionRequest>,
) -> Result<HttpResponse, Error> {
    act(&state, caller.write_ctx(), &key, if_match, year.into_inner(), BookAction::Approve, body).await
}

/// Turns a request to close a year down (a leader, with a `reason`): `closing` → `open`.
#[utoipa::path(post, path = "/api/v1/books/{year}/reject", tag = "books", request_body = BookActionRequest,
    params(("year" = i32, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = BookYearView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/books/{year}/reject")]
pub async fn reject_year_close(
    state: Data<AppState>,
    caller: Authorized<perm::ApproveYearClose>,
    key: IdempotencyKey,
    if_match: IfMatch,
    year: Path<i32>,
    body: JsonBody<BookActionRequest>,
) -> Result<HttpResponse, Error> {
    act(&state, caller.write_ctx(), &key, if_match, year.into_inner(), BookAction::Reject, body).await
}

/// Lists a year's adjusting entries, oldest first: each journal entry posted in the year after
/// it closed, with the finance officer's reason, what it moved and for what.
#[utoipa::path(get, path = "/api/v1/books/{year}/adjustments", tag = "books", params(("year" = i32, Path), PageQuery),
    responses((status = 200, body = inline(Listed<AdjustingEntryView>)), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/books/{year}/adjustments")]
pub async fn list_adjustments(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    year: Path<i32>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    Ok(HttpResponse::Ok().json(books::adjustments(&state.pool, year, q.page()?).await?))
}
