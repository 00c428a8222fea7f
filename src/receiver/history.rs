//! `GET /api/v1/history?url=…|event=…|job=…|target=…[&since=1h]`: the
//! purge history's answer, newest first, behind the API's bearer token. A
//! bad or missing parameter is a 400 naming it; a deployment that keeps no
//! history answers 404 saying so.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::ReceiverState;
use super::error::ReceiveError;
use super::request::{authorize, bad_request};
use crate::history::{HistoryError, Query};

/// The handler.
pub async fn answer(
    request: HttpRequest,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(request.query_string())
        .map_err(|e| bad_request("query", format!("not a valid query string: {e}")))?;
    let query = Query::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|bad| bad_request(bad.parameter, bad.problem))?;
    match state.history.query(&query).await {
        Ok(records) => Ok(HttpResponse::Ok().json(json!({ "records": records }))),
        Err(error @ HistoryError::Off(_)) => Err(ReceiveError::NoHistory(error.to_string())),
        Err(HistoryError::Store(error)) => {
            tracing::error!(%error, "cannot read the history; answered 503");
            Err(ReceiveError::Unavailable)
        }
    }
}
