//! Property tests: random headers and bodies never panic the auth filter and
//! never get a 2xx without a valid signature; validly signed random bodies
//! never cause a 5xx.

use proptest::prelude::*;

use super::*;

const ROUTES_TRIED: [(&str, &str); 5] = [
    ("POST", "/v1/messages"),
    ("POST", "/v1/recalls"),
    ("POST", "/v1/updates"),
    ("GET", "/v1/jobs/1"),
    ("GET", "/v1/messages?tag=x"),
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Printable header values, sometimes shaped like the real thing.
fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[ -~]{0,80}".prop_map(Some),
        "v1,[A-Za-z0-9+/]{43}=".prop_map(Some),
        "(v1|v1a|v2),[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,60})?".prop_map(Some),
        "sha256=[0-9a-f]{64}".prop_map(Some),
        (-10_000i64..10_000).prop_map(|skew| Some((now_secs() + skew).to_string())),
    ]
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_*-]{0,12}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("messages".to_owned()),
                    Just("select".to_owned()),
                    Just("tags".to_owned()),
                    Just("account".to_owned()),
                    Just("remote_id".to_owned()),
                    Just("content".to_owned()),
                    Just("all".to_owned()),
                    Just("ids".to_owned()),
                    Just("dry_run".to_owned()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        value.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_headers_never_authenticate(
        route in 0..ROUTES_TRIED.len(),
        body in json_body(),
        id in header_value(),
        timestamp in header_value(),
        signature in header_value(),
        github_signature in header_value(),
        delivery in header_value(),
    ) {
        let h = harness();
        let (method, path) = ROUTES_TRIED[route];
        let mut request = warp::test::request().method(method).path(path).body(&body);
        for (name, value) in [
            (WEBHOOK_ID, id), (WEBHOOK_TIMESTAMP, timestamp), (WEBHOOK_SIGNATURE, signature),
            (GITHUB_SIGNATURE, github_signature), (GITHUB_DELIVERY, delivery),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        let (status, answer) = runtime().block_on(send(&h, request));
        prop_assert!(!status.is_success(), "{method} {path}: {status} {answer}");
        prop_assert!(status == StatusCode::UNAUTHORIZED, "{method} {path}: {status} {answer}");
        prop_assert!(answer["error"]["code"].is_string());
    }

    #[test]
    fn validly_signed_random_bodies_never_cause_a_server_error(route in 0..3usize, body in json_body()) {
        let h = harness();
        let (method, path) = ROUTES_TRIED[route];
        let request = signed_at(method, path, &body, BOT, &fresh_id(), now_secs());
        let (status, answer) = runtime().block_on(send(&h, request));
        prop_assert!(!status.is_server_error(), "{path} {}: {status} {answer}", String::from_utf8_lossy(&body));
        prop_assert!(status.is_success() || answer["error"]["code"].is_string(), "{status} {answer}");
    }
}
