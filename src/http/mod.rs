//! The only module (with `error.rs` and `lib.rs`) that imports actix-web. Handlers are thin:
//! parse, call one service function, answer.

/// One handler per action of the approval machine (API.md: `POST …/{id}/submit`, …), for any
/// kind of case: `$row` is the kind's `service::cases::CaseRow`, `$view` its answer, `$perm` the
/// permission the action needs (checked before anything else is looked at).
macro_rules! action_handler {
    ($name:ident, $path:literal, $tag:literal, $row:ty, $view:ty, $action:ident, $perm:ident, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = $tag, request_body = crate::http::cases::ActionRequest,
            params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
            responses((status = 200, body = $view, headers(("ETag" = String))), (status = "4XX", body = crate::error::Problem)),
            security(("bearer" = [])))]
        #[actix_web::post($path)]
        pub async fn $name(
            state: actix_web::web::Data<crate::AppState>,
            caller: crate::http::extract::Authorized<crate::http::extract::perm::$perm>,
            key: crate::http::extract::IdempotencyKey,
            if_match: crate::http::extract::IfMatch,
            id: actix_web::web::Path<Uuid>,
            body: crate::http::extract::JsonBody<crate::http::cases::ActionRequest, crate::http::cases::ActionBody>,
        ) -> Result<actix_web::HttpResponse, crate::error::Error> {
            let act = body.value.into_act(crate::domain::approval::CaseAction::$action);
            let idem = key.with(&body.fingerprint);
            let (ctx, who) = (caller.write_ctx(), caller.caller.clone());
            crate::service::cases::act::<$row>(&state.pool, state.approval, ctx, idem, who, if_match.0, id.into_inner(), act)
                .await
                .map(crate::http::stored)
        }
    };
}

pub mod audit;
pub mod auth;
pub mod books;
pub mod budgets;
pub mod campaigns;
pub mod cases;
pub mod extract;
pub mod fees;
pub mod funds;
pub mod grants;
pub mod hardship;
pub mod health;
pub mod items;
pub mod openapi;
pub mod orgs;
pub mod reports;
pub mod routes;
pub mod users;
pub mod witness;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use crate::db::write::Stored;

/// Answers what the write path stored (or replayed): status, JSON body, `ETag`, and
/// `Idempotent-Replayed: true` on a replay.
pub fn stored(s: Stored) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK));
    res.content_type("application/json");
    if let Some(etag) = s.etag {
        res.insert_header((header::ETAG, etag));
    }
    if s.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.body(s.body)
}

/// Answers a read with its `ETag`.
pub fn with_etag<T: serde::Serialize>(body: &T, etag: String) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag)).json(body)
}
