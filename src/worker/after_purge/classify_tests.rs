use reqwest::header::{HeaderName, HeaderValue};

use super::*;

fn answer(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

const JUST_AFTER: Duration = Duration::from_secs(3);

fn read(headers: &[(&str, &str)]) -> Freshness {
    classify(&answer(headers), JUST_AFTER)
}

#[test]
fn cloudflare_hits_are_stale_when_older_than_the_purge() {
    assert_eq!(
        read(&[("CF-Cache-Status", "HIT"), ("Age", "3600")]),
        Freshness::Stale
    );
    assert_eq!(
        read(&[("CF-Cache-Status", "HIT"), ("Age", "1")]),
        Freshness::Fresh,
        "cached again since the purge"
    );
    assert_eq!(
        read(&[("CF-Cache-Status", "HIT"), ("Age", "3")]),
        Freshness::Stale,
        "as old as the time since the purge"
    );
    for word in [
        "MISS",
        "EXPIRED",
        "BYPASS",
        "DYNAMIC",
        "REVALIDATED",
        "miss",
    ] {
        assert_eq!(
            read(&[("cf-cache-status", word), ("Age", "3600")]),
            Freshness::Fresh,
            "{word}"
        );
    }
    for word in ["STALE", "UPDATING"] {
        assert_eq!(
            read(&[("cf-cache-status", word), ("Age", "600")]),
            Freshness::Stale,
            "{word}: an old copy served"
        );
    }
}

#[test]
fn nginx_hits_without_age_are_stale_right_after_a_purge() {
    assert_eq!(read(&[("X-Cache-Status", "HIT")]), Freshness::Stale);
    assert_eq!(read(&[("X-Cache-Status", "MISS")]), Freshness::Fresh);
    assert_eq!(read(&[("X-Cache-Status", "EXPIRED")]), Freshness::Fresh);
    assert_eq!(read(&[("X-Cache-Status", "BYPASS")]), Freshness::Fresh);
}

#[test]
fn x_cache_reads_every_layer_and_a_hit_in_any_layer_counts() {
    // Fastly with shielding: the shield's word first, then the edge's.
    assert_eq!(
        read(&[
            ("X-Cache", "HIT, MISS"),
            (
                "X-Served-By",
                "cache-iad-kiad7000025-IAD, cache-lcy19250-LCY"
            ),
            ("Age", "7200")
        ]),
        Freshness::Stale,
        "the shield served an old copy"
    );
    assert_eq!(
        read(&[("X-Cache", "MISS, HIT"), ("Age", "0")]),
        Freshness::Fresh,
        "the edge cached it again since"
    );
    assert_eq!(
        read(&[("X-Cache", "MISS, MISS"), ("X-Cache-Hits", "0, 0")]),
        Freshness::Fresh
    );
    assert_eq!(
        read(&[("X-Cache-Hits", "0, 3"), ("Age", "900")]),
        Freshness::Stale
    );
    // Akamai and CloudFront spellings.
    assert_eq!(
        read(&[
            (
                "X-Cache",
                "TCP_MEM_HIT from a23-45-67-89.deploy.akamaitechnologies.com (AkamaiGHost/10.0)"
            ),
            ("Age", "400")
        ]),
        Freshness::Stale
    );
    assert_eq!(
        read(&[(
            "X-Cache",
            "TCP_MISS from a23-45-67-89.deploy.akamaitechnologies.com"
        )]),
        Freshness::Fresh
    );
    assert_eq!(
        read(&[("X-Cache", "Hit from cloudfront"), ("Age", "86400")]),
        Freshness::Stale
    );
    assert_eq!(
        read(&[("X-Cache", "RefreshHit from cloudfront"), ("Age", "86400")]),
        Freshness::Fresh,
        "revalidated with the origin"
    );
}

#[test]
fn varnish_tells_a_hit_by_its_two_ids() {
    assert_eq!(
        read(&[("X-Varnish", "32770 3"), ("Age", "120")]),
        Freshness::Stale
    );
    assert_eq!(
        read(&[("X-Varnish", "32770"), ("Age", "0")]),
        Freshness::Fresh
    );
}

#[test]
fn age_alone_decides_and_nothing_is_unknown() {
    assert_eq!(read(&[("Age", "500")]), Freshness::Stale);
    assert_eq!(read(&[("Age", "0")]), Freshness::Fresh);
    assert_eq!(read(&[]), Freshness::Unknown);
    assert_eq!(
        read(&[("Server", "nginx"), ("Cache-Control", "max-age=600")]),
        Freshness::Unknown
    );
    assert_eq!(
        read(&[("X-Cache", "something else")]),
        Freshness::Unknown,
        "a word no cache uses says nothing"
    );
}

#[test]
fn evidence_names_the_cache_headers_only() {
    let headers = answer(&[
        ("CF-Cache-Status", "HIT"),
        ("Age", "12"),
        ("Set-Cookie", "session=secret"),
    ]);
    assert_eq!(evidence(&headers), "cf-cache-status: HIT; age: 12");
    assert_eq!(evidence(&HeaderMap::new()), "no cache header");
}
