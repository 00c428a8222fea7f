//! Reading a cache's answer after a purge: did the copy it served come
//! from before the purge? Pure: headers and the time since the purge in,
//! a [`Freshness`] out.
//!
//! Each cache says hit or miss its own way — `CF-Cache-Status`
//! (Cloudflare), `X-Cache-Status` (nginx), `X-Cache` (Fastly, Varnish
//! setups, Akamai `TCP_HIT`, CloudFront `Hit from cloudfront`; one value per
//! layer, `HIT, MISS`), `X-Cache-Hits` (Fastly, per layer), `X-Varnish` (two
//! ids: a hit) — and `Age` says how old the copy is. The rules:
//!
//! - any layer's hit means a cache served the page: it is **stale** if its
//!   `Age` is at least the time since the purge (cached before it), or if
//!   it gives no `Age` at all (nginx does not: right after a purge an
//!   ageless hit is taken as stale, and purged again at most
//!   `verify_retries` times); **fresh** if younger;
//! - a miss, `EXPIRED`, `BYPASS`, `DYNAMIC`, a revalidation or a pass,
//!   and no hit: **fresh** (the origin answered);
//! - no status header but an `Age`: stale or fresh by the same comparison;
//! - nothing a cache sets: **unknown**.
//!
//! `Age` counts whole seconds, so a copy cached within a second before the
//! purge can pass for fresh.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// What a cache's answer says about a purged URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The origin answered, or the cached copy is younger than the purge.
    Fresh,
    /// The cached copy is older than the purge (or a hit without `Age`).
    Stale,
    /// No cache header: nothing to tell.
    Unknown,
}

/// One cache layer's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Hit,
    Miss,
}

/// The headers read, lower-case, for the log's evidence.
pub const CACHE_HEADERS: [&str; 7] = [
    "cf-cache-status",
    "x-cache-status",
    "x-cache",
    "x-cache-hits",
    "x-varnish",
    "x-served-by",
    "age",
];

/// Classifies a cache's answer, `since_purge` after the purge ended.
pub fn classify(headers: &HeaderMap, since_purge: Duration) -> Freshness {
    let statuses = statuses(headers);
    let age = age(headers);
    let older_than_purge = |age: u64| Duration::from_secs(age) >= since_purge;
    if statuses.contains(&Status::Hit) {
        return match age {
            Some(age) if !older_than_purge(age) => Freshness::Fresh,
            _ => Freshness::Stale,
        };
    }
    if !statuses.is_empty() {
        return Freshness::Fresh;
    }
    match age {
        Some(age) if older_than_purge(age) => Freshness::Stale,
        Some(_) => Freshness::Fresh,
        None => Freshness::Unknown,
    }
}

/// The cache headers of an answer, `name: value; …` (values cut short),
/// for the log.
pub fn evidence(headers: &HeaderMap) -> String {
    let parts: Vec<String> = CACHE_HEADERS
        .iter()
        .flat_map(|name| {
            headers.get_all(*name).iter().map(move |value| {
                let text: String = String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(80)
                    .collect();
                format!("{name}: {text}")
            })
        })
        .collect();
    if parts.is_empty() {
        "no cache header".into()
    } else {
        parts.join("; ")
    }
}

/// Every layer's hit or miss, from every header that says one.
fn statuses(headers: &HeaderMap) -> Vec<Status> {
    let mut found = Vec::new();
    for (name, read) in [
        ("cf-cache-status", word as fn(&str) -> Option<Status>),
        ("x-cache-status", word),
        ("x-cache", word),
        ("x-cache-hits", hits),
        ("x-varnish", varnish_ids),
    ] {
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            found.extend(text.split(',').filter_map(|layer| read(layer.trim())));
        }
    }
    found
}

/// A status word, as caches spell it: `HIT`, `MISS`, `EXPIRED`, `BYPASS`,
/// `DYNAMIC`, `STALE`, `UPDATING`, `REVALIDATED`, `PASS`, `TCP_HIT`,
/// `TCP_REFRESH_HIT`, `Hit from cloudfront`, `RefreshHit from cloudfront`…
fn word(text: &str) -> Option<Status> {
    let first = text.split_whitespace().next()?.to_ascii_uppercase();
    let first = first.strip_prefix("TCP_").unwrap_or(&first);
    match first {
        // Served from the cache, possibly old.
        "HIT" | "MEM_HIT" | "IMS_HIT" | "STALE" | "UPDATING" | "REFRESH_FAIL_HIT" => {
            Some(Status::Hit)
        }
        // Checked with the origin, or fetched from it.
        "MISS" | "EXPIRED" | "BYPASS" | "DYNAMIC" | "REVALIDATED" | "PASS" | "NONE" | "UNKNOWN"
        | "REFRESHHIT" | "REFRESH_HIT" | "REFRESH_MISS" => Some(Status::Miss),
        _ => None,
    }
}

/// Fastly's `X-Cache-Hits`: one count per layer, 0 for a miss.
fn hits(text: &str) -> Option<Status> {
    match text.parse::<u64>().ok()? {
        0 => Some(Status::Miss),
        _ => Some(Status::Hit),
    }
}

/// `X-Varnish`: the request's id, and on a hit the id of the request that
/// cached the object too.
fn varnish_ids(text: &str) -> Option<Status> {
    match text.split_whitespace().count() {
        1 => Some(Status::Miss),
        2 => Some(Status::Hit),
        _ => None,
    }
}

/// `Age` in seconds (the first, when a layer added another).
fn age(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get("age")?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
