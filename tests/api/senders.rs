//! Every sender of `config/examples/<sender>.toml`, end to end: the example
//! configuration as shipped (its `env:` secrets given by `PURGEHOOK__…`
//! overrides, its provider's `base_url` pointed at a local fake), a
//! delivery signed here exactly as the sender documents it — with
//! RustCrypto's HMAC, not purgehook's code, and each signer first checked
//! against the sender's published vector — and the purge that reaches the
//! provider. Tampered bodies and stale timestamps get 401, the senders'
//! pings and test deliveries 200.
//!
//! Vectors: **official** = the sender's docs or SDK tests; **derived** =
//! the sender's unit test replayed; **computed** = the documented algorithm
//! (with Python's `hmac`; Sanity's also by @sanity/webhook, Contentful's by
//! the official node-apps-toolkit `signRequest`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use purgehook::app::Role;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, spawn_role};

/// A running example and its fake provider (Cloudflare and BigScoots
/// answer success; both live on one local server, at their own paths).
struct Example {
    app: TestApp,
    provider: MockServer,
    source: &'static str,
}

/// Starts `config/examples/{name}.toml` with `secret` for its source and
/// every target pointed at the fake provider.
async fn example(name: &str, source: &'static str, secret: &str, targets: &[&str]) -> Example {
    let provider = MockServer::start().await;
    let success = json!({"success": true, "errors": [], "messages": [], "result": {"id": "1"}});
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(success))
        .mount(&provider)
        .await;
    let path = format!("{}/config/examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(&path).expect("the example exists");
    let dir = tempfile::tempdir().unwrap();
    let upper = |id: &str| id.to_ascii_uppercase();
    let mut overrides = vec![
        (
            format!("PURGEHOOK__SOURCES__{}__SECRETS", upper(source)),
            format!("[{secret:?}]"),
        ),
        (
            "PURGEHOOK__QUEUE__PATH".into(),
            format!("{:?}", dir.path().join("queue")),
        ),
    ];
    for target in targets {
        let key = |k: &str| format!("PURGEHOOK__TARGETS__{}__{k}", upper(target));
        overrides.push((key("BASE_URL"), provider.uri()));
        overrides.push((key("WINDOW"), "10ms".into()));
        let credential = if *target == "blog" {
            "PASSWORD"
        } else {
            "API_TOKEN"
        };
        overrides.push((key(credential), "test-credential".into()));
    }
    let app = spawn_role(&toml, Role::Serve, overrides, dir).await;
    Example {
        app,
        provider,
        source,
    }
}

impl Example {
    /// POSTs a delivery to the example's source; its status.
    async fn post(&self, headers: &[(&str, String)], body: &[u8]) -> u16 {
        self.post_to(&format!("/hooks/{}", self.source), headers, body)
            .await
    }

    async fn post_to(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
        let mut request = self.app.client.post(format!("{}{path}", self.app.address));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The purges the provider received once there are `count`, and no
    /// more a moment later: `(path, body)`, sorted.
    async fn purges(&self, count: usize) -> Vec<(String, Value)> {
        let requests = eventually(Duration::from_secs(10), "the purges", || async {
            let requests = self.provider.received_requests().await.unwrap_or_default();
            (requests.len() >= count).then_some(requests)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all = self.provider.received_requests().await.unwrap_or_default();
        assert_eq!(all.len(), requests.len(), "more purges than expected");
        let mut purges: Vec<(String, Value)> = all
            .iter()
            .map(|r| {
                (
                    r.url.path().to_string(),
                    serde_json::from_slice(&r.body).unwrap(),
                )
            })
            .collect();
        purges.sort_by_key(|(path, body)| format!("{path} {body}"));
        purges
    }
}

const CLOUDFLARE: &str = "/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache";
const BIGSCOOTS: &str = "/wp-json/bigscoots-cache/v2/clear-cache";

fn cloudflare(body: Value) -> (String, Value) {
    (CLOUDFLARE.to_string(), body)
}

fn hmac_sha256(secret: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(secret: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

fn tampered(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let last = body.len() - 2;
    body[last] ^= 0x01;
    body
}

/// Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body.
fn shopify_signature(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret, body))
}

#[tokio::test]
async fn shopify_product_updates_purge_the_product_page_and_tag() {
    // Official: shopify-app-js lib/webhooks/__tests__/validate.test.ts.
    assert_eq!(
        shopify_signature("test_secret_key", br#"{"foo": "bar"}"#),
        "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
    );
    // Computed: the example product payload, its documented HMAC.
    let body = br#"{"id":788032119674292922,"title":"Example T-Shirt","handle":"example-t-shirt","status":"active"}"#;
    assert_eq!(
        shopify_signature("purgehook-shopify-secret", body),
        "hwN/Y9dyW8+iuNGItycNgLcy/iMyi3/KXmdCxDeHFPI="
    );
    let shop = example("shopify", "shopify", "purgehook-shopify-secret", &["cdn"]).await;
    let headers = |signature: String| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("X-Shopify-Topic", "products/update".into()),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
            ),
            ("X-Shopify-Shop-Domain", "example.myshopify.com".into()),
            ("X-Shopify-Hmac-Sha256", signature),
        ]
    };
    let good = shopify_signature("purgehook-shopify-secret", body);
    assert_eq!(shop.post(&headers(good), &tampered(body)).await, 401);
    // The admin's "Send test notification" is signed with another key.
    let admin = shopify_signature("the-store-notifications-key", body);
    assert_eq!(shop.post(&headers(admin), body).await, 401);
    let good = shopify_signature("purgehook-shopify-secret", body);
    assert_eq!(shop.post(&headers(good), body).await, 202);
    assert_eq!(
        shop.purges(2).await,
        [
            cloudflare(json!({"files": ["https://shop.example.com/products/example-t-shirt"]})),
            cloudflare(json!({"tags": ["product-788032119674292922"]})),
        ]
    );
}

/// Ghost: `X-Ghost-Signature: sha256=<hex HMAC-SHA256 of body + t>, t=<ms>`.
fn ghost_signature(secret: &str, body: &[u8], t: u128) -> String {
    let signed = [body, t.to_string().as_bytes()].concat();
    format!(
        "sha256={}, t={t}",
        hex::encode(hmac_sha256(secret, &signed))
    )
}

#[tokio::test]
async fn ghost_posts_published_purge_their_url_and_stale_ones_are_refused() {
    // Derived: Ghost's trigger.test.js, "uses the request payload and a
    // timestamp" (a fake clock at 0).
    assert_eq!(
        ghost_signature(
            "abc123dontstealme",
            br#"{"event":"post.added","data":[1]}"#,
            0
        ),
        "sha256=cb0a3b68c9a182b0ad29f3b744f1470e63ede3fcb517a61318bf91197092b431, t=0"
    );
    let body = br#"{"event":"post.published","post":{"current":{"id":"6682b8a8e10cc04306284330","slug":"hello-world","url":"https://blog.example.com/hello-world/","status":"published"},"previous":{"status":"draft"}}}"#;
    // Computed: Ghost's code applied to a post.published payload.
    assert_eq!(
        ghost_signature("purgehook-ghost-secret", body, 1_767_225_600_000),
        "sha256=db3a6f58db267ffc82edec41c5c9f303ed25db8a92b352f131a27db084eaa125, t=1767225600000"
    );
    let ghost = example("ghost", "ghost", "purgehook-ghost-secret", &["cdn"]).await;
    let now = millis(SystemTime::now());
    let signed = |body: &[u8], t: u128| {
        vec![
            ("Content-Type", "application/json".to_string()),
            (
                "X-Ghost-Signature",
                ghost_signature("purgehook-ghost-secret", body, t),
            ),
        ]
    };
    assert_eq!(ghost.post(&signed(body, now), &tampered(body)).await, 401);
    let stale = now - 6 * 60 * 1000;
    assert_eq!(ghost.post(&signed(body, stale), body).await, 401);
    assert_eq!(ghost.post(&signed(body, now), body).await, 202);
    let page = cloudflare(json!({"files": ["https://blog.example.com/hello-world/"]}));
    assert_eq!(ghost.purges(1).await, std::slice::from_ref(&page));
    // Ghost before July 2025 sends no event: the hook URL names it.
    let site = b"{}";
    let status = ghost
        .post_to("/hooks/ghost?event=site.changed", &signed(site, now), site)
        .await;
    assert_eq!(status, 202);
    let everything = cloudflare(json!({"purge_everything": true}));
    assert_eq!(ghost.purges(2).await, [page, everything]);
}

/// Sanity: `sanity-webhook-signature: t=<ms>,v1=<base64url, unpadded,
/// HMAC-SHA256 of "<t>.<body>">`.
fn sanity_signature(secret: &str, body: &[u8], t: u128) -> String {
    let signed = [format!("{t}.").as_bytes(), body].concat();
    format!(
        "t={t},v1={}",
        URL_SAFE_NO_PAD.encode(hmac_sha256(secret, &signed))
    )
}

#[tokio::test]
async fn sanity_document_changes_purge_the_post_page_and_tag() {
    // Official: @sanity/webhook test/signature.test.ts.
    assert_eq!(
        sanity_signature(
            "try-me",
            br#"{"title":"GROQ-Hooks are neat"}"#,
            1_633_518_820_676
        ),
        "t=1633518820676,v1=e7C9h2sfbFfc4V7TEz7PSOp4IoNzl0UdVsBV-1wgdeA"
    );
    let body = br#"{"_id":"post-1","_type":"post","slug":{"current":"hello-world"}}"#;
    // Computed (and produced identically by @sanity/webhook 4.0.4).
    assert_eq!(
        sanity_signature("purgehook-sanity-secret", body, 1_767_225_600_000),
        "t=1767225600000,v1=VXG2YbzhqsLxiqzaeR52kA2ZC2IbSqAfAGwUYWq-mmI"
    );
    let sanity = example("sanity", "sanity", "purgehook-sanity-secret", &["cdn"]).await;
    let now = millis(SystemTime::now());
    let signed = |body: &[u8], t: u128| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("sanity-operation", "update".into()),
            ("idempotency-key", "evt-01".into()),
            (
                "sanity-webhook-signature",
                sanity_signature("purgehook-sanity-secret", body, t),
            ),
        ]
    };
    assert_eq!(sanity.post(&signed(body, now), &tampered(body)).await, 401);
    assert_eq!(sanity.post(&signed(body, now - 301_000), body).await, 401);
    assert_eq!(sanity.post(&signed(body, now), body).await, 202);
    assert_eq!(
        sanity.purges(2).await,
        [
            cloudflare(json!({"files": ["https://site.example.com/blog/hello-world/"]})),
            cloudflare(json!({"tags": ["post-1"]})),
        ]
    );
}

/// Contentful's canonical request, as node-apps-toolkit's `signRequest`
/// builds it for a path without a query: `POST`, the path, the signed
/// headers (lower-case names, trimmed values, with the list itself and the
/// timestamp, sorted, `name:value` joined by `;`) and the body, joined by
/// newlines; hex HMAC-SHA256. Returns the three headers it adds.
fn contentful_signature(
    secret: &str,
    path: &str,
    headers: &[(&str, &str)],
    t: u128,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut names: Vec<String> = signed.iter().map(|(name, _)| name.clone()).collect();
    names.extend([
        "x-contentful-signed-headers".into(),
        "x-contentful-timestamp".into(),
    ]);
    names.sort();
    signed.push(("x-contentful-signed-headers".into(), names.join(",")));
    signed.push(("x-contentful-timestamp".into(), t.to_string()));
    signed.sort();
    let lines: Vec<String> = signed.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let canonical = [
        format!("POST\n{path}\n{}\n", lines.join(";")).as_bytes(),
        body,
    ]
    .concat();
    vec![
        ("x-contentful-signed-headers", names.join(",")),
        ("x-contentful-timestamp", t.to_string()),
        (
            "x-contentful-signature",
            hex::encode(hmac_sha256(secret, &canonical)),
        ),
    ]
}

#[tokio::test]
async fn contentful_entries_published_purge_their_page_and_tag() {
    let secret = format!("{}{}", "a".repeat(32), "b".repeat(32));
    let headers = [
        (
            "Content-Type",
            "application/vnd.contentful.management.v1+json",
        ),
        ("X-Contentful-Topic", "ContentManagement.Entry.publish"),
        ("X-Contentful-Webhook-Name", "purgehook"),
    ];
    let body = br#"{"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry","contentType":{"sys":{"id":"blogPost"}}},"fields":{"slug":{"en-US":"hello-world"}}}"#;
    // Computed, and produced identically by node-apps-toolkit 4.0.1 signRequest.
    let vector = contentful_signature(
        &secret,
        "/hooks/contentful",
        &headers,
        1_767_225_600_000,
        body,
    );
    assert_eq!(
        vector[2].1,
        "c933de29c09982a4d4110e312d982a9bcc2363615f711f38f3217be6397bd18d"
    );
    let contentful = example("contentful", "contentful", &secret, &["cdn"]).await;
    let send = |t: u128, body: &'static [u8], topic: &'static str| {
        let mut headers = headers.to_vec();
        headers[1].1 = topic;
        let mut all: Vec<(&str, String)> =
            headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        all.extend(contentful_signature(
            &secret,
            "/hooks/contentful",
            &headers,
            t,
            body,
        ));
        let contentful = &contentful;
        async move { contentful.post(&all, body).await }
    };
    let now = millis(SystemTime::now());
    assert_eq!(
        send(now - 31_000, body, "ContentManagement.Entry.publish").await,
        401
    );
    assert_eq!(
        send(now, body, "ContentManagement.Entry.publish").await,
        202
    );
    let page = cloudflare(json!({"files": ["https://site.example.com/blog/hello-world/"]}));
    let tag = cloudflare(json!({"tags": ["5KsDBWseXY6QegucYAoacS"]}));
    assert_eq!(contentful.purges(2).await, [page.clone(), tag.clone()]);
    let stub: &[u8] = br#"{"sys":{"id":"3hGcVRbyKR1dvuxxiWGJJo","type":"DeletedEntry"}}"#;
    assert_eq!(
        send(now, stub, "ContentManagement.Entry.unpublish").await,
        202
    );
    let unpublished = cloudflare(json!({"tags": ["3hGcVRbyKR1dvuxxiWGJJo"]}));
    assert_eq!(contentful.purges(3).await, [page, unpublished, tag]);
}

#[tokio::test]
async fn storyblok_stories_published_purge_their_page() {
    // Computed: Storyblok publishes no vector.
    let body = br#"{"text":"The user test@domain.com published the Story XYZ (xyz)","action":"published","space_id":123,"story_id":456,"full_slug":"blog/hello-world"}"#;
    let signature = |body: &[u8]| hex::encode(hmac_sha1("purgehook-storyblok-secret", body));
    assert_eq!(signature(body), "4b79c2b924d977f7687ee299f8bb910050d2b5f3");
    let storyblok = example(
        "storyblok",
        "storyblok",
        "purgehook-storyblok-secret",
        &["cdn"],
    )
    .await;
    let headers = |sig: String| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("webhook-signature", sig),
        ]
    };
    assert_eq!(
        storyblok
            .post(&headers(signature(body)), &tampered(body))
            .await,
        401
    );
    assert_eq!(storyblok.post(&headers(signature(body)), body).await, 202);
    assert_eq!(
        storyblok.purges(1).await,
        [cloudflare(
            json!({"files": ["https://site.example.com/blog/hello-world"]})
        )]
    );
}

#[tokio::test]
async fn strapi_articles_published_purge_their_page_and_the_trigger_test_is_a_ping() {
    let strapi = example("strapi", "strapi", "s3cr3t-strapi-token", &["cdn"]).await;
    let headers = |token: &str, event: &str| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("Authorization", format!("Bearer {token}")),
            ("X-Strapi-Event", event.to_string()),
        ]
    };
    let body = br#"{"event":"entry.publish","createdAt":"2026-01-01T00:00:00.000Z","model":"article","uid":"api::article.article","entry":{"id":7,"documentId":"abc123","slug":"hello-world","publishedAt":"2026-01-01T00:00:00.000Z"}}"#;
    assert_eq!(
        strapi
            .post(&headers("a-guess", "entry.publish"), body)
            .await,
        401
    );
    let test = br#"{"event":"trigger-test","createdAt":"2026-01-01T00:00:00.000Z"}"#;
    assert_eq!(
        strapi
            .post(&headers("s3cr3t-strapi-token", "trigger-test"), test)
            .await,
        200
    );
    assert_eq!(
        strapi
            .post(&headers("s3cr3t-strapi-token", "entry.publish"), body)
            .await,
        202
    );
    assert_eq!(
        strapi.purges(1).await,
        [cloudflare(json!({"files": [
            "https://site.example.com/articles/",
            "https://site.example.com/articles/hello-world/"
        ]}))]
    );
}

#[tokio::test]
async fn prismic_updates_purge_the_documents_tags_and_are_answered_200() {
    let prismic = example("prismic", "prismic", "s3cr3t-prismic", &["cdn"]).await;
    let json = [("Content-Type", "application/json".to_string())];
    let body = |kind: &str, secret: &str| {
        serde_json::to_vec(
            &json!({"type": kind, "masterRef": "ZxY", "releases": {}, "masks": {}, "tags": {},
            "documents": ["ZjmSnhAAACMA5Lmz"], "domain": "my-repo",
            "apiUrl": "https://my-repo.prismic.io/api", "secret": secret}),
        )
        .unwrap()
    };
    assert_eq!(
        prismic.post(&json, &body("api-update", "a-guess")).await,
        401
    );
    assert_eq!(
        prismic
            .post(&json, &body("test-trigger", "s3cr3t-prismic"))
            .await,
        200
    );
    // Accepted and stored: 200, as Prismic retries anything else.
    assert_eq!(
        prismic
            .post(&json, &body("api-update", "s3cr3t-prismic"))
            .await,
        200
    );
    assert_eq!(
        prismic.purges(1).await,
        [cloudflare(json!({"tags": ["ZjmSnhAAACMA5Lmz"]}))]
    );
}

#[tokio::test]
async fn directus_article_changes_purge_their_tags() {
    let directus = example("directus", "directus", "s3cr3t-directus", &["cdn"]).await;
    let headers = |token: &str| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("Authorization", format!("Bearer {token}")),
        ]
    };
    let update = br#"{"event":"items.update","accountability":{"user":"u1","role":"r1"},"payload":{"title":"New"},"keys":["3","4"],"collection":"articles"}"#;
    assert_eq!(
        directus
            .post(&[headers("s3cr3t-directus")[0].clone()], update)
            .await,
        401
    );
    assert_eq!(
        directus.post(&headers("s3cr3t-directus"), update).await,
        202
    );
    let other = br#"{"event":"items.update","payload":{},"keys":["9"],"collection":"authors"}"#;
    assert_eq!(directus.post(&headers("s3cr3t-directus"), other).await, 200);
    assert_eq!(
        directus.purges(1).await,
        [cloudflare(json!({"tags": ["article-3", "article-4"]}))]
    );
}

/// WooCommerce and WP Webhooks: base64 HMAC-SHA256 of the raw body.
fn base64_signature(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret, body))
}

#[tokio::test]
async fn woocommerce_products_updated_purge_the_post_and_page_and_the_save_ping_is_answered() {
    // Official: WooCommerce's test_generate_signature (an empty secret).
    assert_eq!(
        base64_signature("", b"secret"),
        "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="
    );
    let body = br#"{"id":42,"name":"Hoodie","slug":"hoodie","permalink":"https://shop.example.com/product/hoodie/","status":"publish"}"#;
    // Computed: the example product, its documented HMAC.
    assert_eq!(
        base64_signature("purgehook-woo-secret", body),
        "en2wwwT+EQJtaQKEK8CE9BRCStCy8a7C4AYJ7GlxHUM="
    );
    let woo = example(
        "woocommerce",
        "woo",
        "purgehook-woo-secret",
        &["blog", "cdn"],
    )
    .await;
    let ping = [(
        "Content-Type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    assert_eq!(woo.post(&ping, b"webhook_id=12").await, 200);
    let headers = |signature: String| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("X-WC-Webhook-Source", "https://shop.example.com/".into()),
            ("X-WC-Webhook-Topic", "product.updated".into()),
            ("X-WC-Webhook-Resource", "product".into()),
            ("X-WC-Webhook-Event", "updated".into()),
            ("X-WC-Webhook-ID", "3".into()),
            (
                "X-WC-Webhook-Delivery-ID",
                "2b6c3f7a1e4d5c6b7a8f9e0d1c2b3a4f".into(),
            ),
            ("X-WC-Webhook-Signature", signature),
        ]
    };
    let signature = base64_signature("purgehook-woo-secret", body);
    assert_eq!(
        woo.post(&headers(signature.clone()), &tampered(body)).await,
        401
    );
    assert_eq!(woo.post(&headers(signature), body).await, 202);
    assert_eq!(
        woo.purges(2).await,
        [
            (
                BIGSCOOTS.into(),
                json!({"purge_type": "post_ids", "post_ids": [42], "purge_related_urls": true})
            ),
            cloudflare(json!({"files": ["https://shop.example.com/product/hoodie/"]})),
        ]
    );
}

#[tokio::test]
async fn wp_webhooks_posts_updated_purge_the_post_and_its_related_pages() {
    let body = br#"{"post_id":42,"post":{"ID":42,"post_type":"post","post_status":"publish","post_name":"hello-world"},"post_permalink":"https://blog.example.com/hello-world/"}"#;
    // Computed: the plugin publishes no vector.
    assert_eq!(
        base64_signature("purgehook-wpwh-secret", body),
        "Ju0QGe1iL4jYyluCXXajKnyzRIFYbltVGIYjM6G4/dI="
    );
    let wpwh = example("wp-webhooks", "wpwh", "purgehook-wpwh-secret", &["blog"]).await;
    let headers = |signature: String| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("X-WP-Webhook-Source", "https://blog.example.com/".into()),
            ("X-WP-Webhook-Name", "post_update".into()),
            ("X-WP-Webhook-URL-Name", "purgehook".into()),
            ("X-WP-Webhook-Signature", signature),
        ]
    };
    let signature = base64_signature("purgehook-wpwh-secret", body);
    assert_eq!(
        wpwh.post(&headers(signature.clone()), &tampered(body))
            .await,
        401
    );
    let unsigned = &headers(String::new())[..4];
    assert_eq!(wpwh.post(unsigned, body).await, 401);
    assert_eq!(wpwh.post(&headers(signature), body).await, 202);
    assert_eq!(
        wpwh.purges(1).await,
        [(
            BIGSCOOTS.into(),
            json!({"purge_type": "post_ids", "post_ids": [42], "purge_related_urls": true})
        )]
    );
}

/// `purgehook sign` for an example, as a user runs it: the header lines.
fn sign(
    example: &str,
    source: &str,
    event: &str,
    file: &std::path::Path,
    env: &[(&str, &str)],
) -> Vec<(String, String)> {
    let config = format!(
        "{}/config/examples/{example}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .args([
            "sign", "--config", &config, "--source", source, "--event", event,
        ])
        .arg(file)
        .envs(env.iter().copied())
        .env("CLOUDFLARE_API_TOKEN", "unused")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[tokio::test]
async fn purgehook_sign_signs_for_the_configurable_kinds_as_their_senders_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    let secret = format!("{}{}", "c".repeat(40), "d".repeat(24));
    let cases = [
        (
            "sanity",
            "sanity",
            "SANITY_WEBHOOK_SECRET",
            "update",
            r#"{"_id":"post-2","_type":"post","slug":{"current":"signed"}}"#,
        ),
        (
            "strapi",
            "strapi",
            "STRAPI_WEBHOOK_TOKEN",
            "entry.publish",
            r#"{"event":"entry.publish","model":"article","entry":{"slug":"signed"}}"#,
        ),
        (
            "contentful",
            "contentful",
            "CONTENTFUL_SIGNING_SECRET",
            "ContentManagement.Entry.unpublish",
            r#"{"sys":{"id":"signed-entry"}}"#,
        ),
    ];
    for (name, source, variable, event, body) in cases {
        std::fs::write(&file, body).unwrap();
        let headers = sign(name, source, event, &file, &[(variable, &secret)]);
        let example = example(name, source, &secret, &["cdn"]).await;
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(
            example.post(&headers, body.as_bytes()).await,
            202,
            "{name}: {headers:?}"
        );
        assert!(!example.purges(1).await.is_empty());
    }
}
