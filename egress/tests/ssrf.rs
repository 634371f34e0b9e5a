//! The SSRF guard: pure address and URL checks, then refusals that never reach a stub.

mod common;

use std::net::IpAddr;

use egress::{
    classify, AllowedTarget, Client, EgressPolicy, HttpError, HttpRequest, RefusalReason, Retry,
    Url,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn classifies_non_public_addresses() {
    use RefusalReason::*;
    let cases = [
        ("127.0.0.1", Loopback),
        ("127.255.0.9", Loopback),
        ("::1", Loopback),
        ("10.0.0.1", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("fc00::1", Private),
        ("fd12:3456::1", Private),
        ("fec0::1", Private),
        ("169.254.169.254", LinkLocal),
        ("fe80::1", LinkLocal),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Unspecified),
        ("::", Unspecified),
        ("100.64.0.1", SharedAddressSpace),
        ("100.127.255.255", SharedAddressSpace),
        ("255.255.255.255", Broadcast),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("ff02::1", Multicast),
        ("192.0.2.1", Documentation),
        ("198.51.100.7", Documentation),
        ("203.0.113.9", Documentation),
        ("2001:db8::1", Documentation),
        ("198.18.0.1", Benchmarking),
        ("240.0.0.1", Reserved),
        ("192.0.0.8", Reserved),
        ("2001::1", Reserved),
        ("::7f00:1", Reserved),
        // IPv4 embedded in IPv6 is judged by the IPv4 address.
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:169.254.169.254", LinkLocal),
        ("::ffff:10.1.2.3", Private),
        ("64:ff9b::a9fe:a9fe", LinkLocal),
        ("2002:7f00:1::1", Loopback),
    ];
    for (addr, reason) in cases {
        assert_eq!(classify(ip(addr)), Some(reason), "{addr}");
    }
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "169.253.0.1",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
    ] {
        assert_eq!(classify(ip(addr)), None, "{addr}");
    }
}

#[test]
fn url_parser_normalises_numeric_hosts() {
    for (given, host) in [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
        ("http://LOCALHOST./", "localhost."),
    ] {
        assert_eq!(Url::parse(given).unwrap().host_str(), Some(host), "{given}");
    }
}

#[test]
fn check_url_refuses_without_network() {
    let policy = EgressPolicy::default();
    for url in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://x.metadata.google.internal/",
    ] {
        let err = policy.check_url(&Url::parse(url).unwrap()).unwrap_err();
        assert!(matches!(err, HttpError::Refused { .. }), "{url}: {err:?}");
        assert_eq!(err.retry(), Retry::No);
    }
    for url in [
        "http://example.com/",
        "https://8.8.8.8/",
        "http://[2606:4700::1111]/",
    ] {
        assert!(policy.check_url(&Url::parse(url).unwrap()).is_ok(), "{url}");
    }
    // Denied host names stay denied even with private networks allowed.
    let permissive = EgressPolicy::permissive();
    let metadata = Url::parse("http://metadata.google.internal/").unwrap();
    assert!(permissive.check_url(&metadata).is_err());
    assert!(permissive
        .check_url(&Url::parse("http://10.0.0.1/").unwrap())
        .is_ok());
    let err = permissive.check_url(&Url::parse("file:///etc/passwd").unwrap());
    assert!(err.is_err());
}

#[test]
fn exceptions_match_address_and_port() {
    let policy = EgressPolicy {
        allowed: vec![
            AllowedTarget::socket(ip("127.0.0.1"), 8080),
            AllowedTarget::net("10.1.0.0/16".parse().unwrap()),
        ],
        ..EgressPolicy::default()
    };
    assert!(policy.check_address(ip("127.0.0.1"), Some(8080)).is_ok());
    assert!(policy
        .check_address(ip("::ffff:127.0.0.1"), Some(8080))
        .is_ok());
    assert_eq!(
        policy.check_address(ip("127.0.0.1"), Some(8081)),
        Err(RefusalReason::Loopback)
    );
    assert!(policy.check_address(ip("127.0.0.1"), None).is_err());
    assert!(policy.check_address(ip("10.1.2.3"), Some(1)).is_ok());
    assert!(policy.check_address(ip("10.2.0.1"), Some(1)).is_err());
}

/// Every URL here must be refused before a connection: the stub must see nothing.
#[tokio::test]
async fn default_policy_refuses_and_nothing_is_sent() {
    let stub = common::stub().await;
    let port = stub.port();
    let policy = EgressPolicy::default();
    let client = Client::new();
    let cases = [
        (format!("http://127.0.0.1:{port}/json"), Some("127.0.0.1")),
        (format!("http://localhost:{port}/json"), Some("127.0.0.1")),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/json"),
            Some("::ffff:127.0.0.1"),
        ),
        (format!("http://2130706433:{port}/json"), Some("127.0.0.1")),
        (format!("http://0x7f000001:{port}/json"), Some("127.0.0.1")),
        (format!("http://0x7f.1:{port}/json"), Some("127.0.0.1")),
        (format!("http://0.0.0.0:{port}/json"), Some("0.0.0.0")),
        ("http://[::1]/".to_string(), Some("::1")),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            Some("169.254.169.254"),
        ),
        ("http://10.0.0.1/".to_string(), Some("10.0.0.1")),
        ("http://192.168.1.1/".to_string(), Some("192.168.1.1")),
        (format!("ftp://127.0.0.1:{port}/json"), None),
        ("file:///etc/passwd".to_string(), None),
    ];
    for (url, address) in cases {
        // The synchronous guard runs first in `send`; asserting it here as well means a
        // regression fails the test before any packet could leave for a non-local address.
        if !url.contains("localhost") {
            assert!(
                policy.check_url(&Url::parse(&url).unwrap()).is_err(),
                "{url}"
            );
        }
        let err = client
            .send(&HttpRequest::get(&url), &policy)
            .await
            .unwrap_err();
        match &err {
            HttpError::Refused { address: got, .. } => {
                assert_eq!(*got, address.map(ip), "{url}");
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
        assert_eq!(err.retry(), Retry::No, "{url}");
        assert!(err.to_string().starts_with("refused to connect"), "{err}");
    }
    assert_eq!(stub.hits(), 0, "the stub saw a request");
}

#[tokio::test]
async fn refusal_message_names_host_address_and_reason() {
    let err = Client::new()
        .send(
            &HttpRequest::get("http://localhost:1/"),
            &EgressPolicy::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused to connect to \"localhost\" (127.0.0.1): loopback addresses are not allowed"
    );
}

#[tokio::test]
async fn same_stub_is_reachable_when_allowed() {
    let stub = common::stub().await;
    let client = Client::new();
    // Through the resolver (a host name) and as an IP literal, with a port exception.
    let exception = EgressPolicy {
        allowed: vec![AllowedTarget::socket(ip("127.0.0.1"), stub.port())],
        ..EgressPolicy::default()
    };
    for policy in [EgressPolicy::permissive(), exception] {
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("http://{host}:{}/json", stub.port());
            let response = client.send(&HttpRequest::get(url), &policy).await.unwrap();
            assert_eq!(response.status, 200);
        }
    }
    assert_eq!(stub.hits(), 4);
}
