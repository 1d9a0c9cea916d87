#![allow(clippy::unwrap_used)]

use super::*;

fn request(authorization: Option<&str>) -> Request<()> {
    let mut builder = Request::builder().uri("/api/report");
    if let Some(a) = authorization {
        builder = builder.header(header::AUTHORIZATION, a);
    }
    builder.body(()).unwrap()
}

#[test]
fn the_hash_of_a_token_is_sha256_in_hex() {
    // printf %s abc | sha256sum
    assert_eq!(
        token_sha256("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn every_listed_token_is_accepted_and_nothing_else() {
    let hashes = TokenHashes::parse(&[
        token_sha256("old-token"),
        token_sha256("new-token").to_uppercase(),
    ])
    .unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.accepts(b"old-token"));
    assert!(hashes.accepts(b"new-token"));
    assert!(!hashes.accepts(b"new-toke"));
    assert!(!hashes.accepts(b""));
    assert!(
        !TokenHashes::parse::<String>(&[])
            .unwrap()
            .accepts(b"old-token")
    );
}

#[test]
fn a_bad_hash_is_named_by_its_place_not_its_value() {
    let short = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a";
    let not_hex = "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let e = TokenHashes::parse(&[token_sha256("x").as_str(), short, not_hex]).unwrap_err();
    assert_eq!(e, BadTokenHash { index: 1 });
    assert!(!e.to_string().contains(short), "{e}");
    assert!(TokenHashes::parse(&[not_hex]).is_err());
}

#[test]
fn the_validator_answers_401_with_a_challenge_unless_the_bearer_token_is_accepted() {
    let mut auth = BearerAuth::new(
        TokenHashes::parse(&[token_sha256("s3cret")]).unwrap(),
        "modeshare admin",
    );
    assert!(auth.validate(&mut request(Some("Bearer s3cret"))).is_ok());
    assert!(auth.validate(&mut request(Some("bearer  s3cret "))).is_ok());
    for wrong in [
        None,
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer wrong"),
        Some("Basic czNjcmV0"),
        Some("s3cret"),
    ] {
        let response = auth.validate(&mut request(wrong)).unwrap_err();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"modeshare admin\""
        );
    }
}

#[test]
fn debug_shows_how_many_hashes_not_which() {
    let hashes = TokenHashes::parse(&[token_sha256("t")]).unwrap();
    assert_eq!(format!("{hashes:?}"), "TokenHashes(1 hashes)");
}
