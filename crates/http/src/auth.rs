//! Bearer tokens, checked against SHA-256 hashes: the service never holds a token, only its
//! hash, so a leaked configuration does not leak access. Several hashes may be listed, so that
//! a token can be rotated (add the new one, hand it out, remove the old one). A presented token
//! is hashed and compared with every hash in constant time.
//!
//! Built once for every listener that authenticates: the admin listener now, the operators'
//! ingest listener later ([`BearerAuth`] is a `tower_http` request validator).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use tower_http::validate_request::ValidateRequest;

/// The SHA-256 hashes of the accepted tokens (by default none: nothing is accepted).
#[derive(Clone, Default)]
pub struct TokenHashes(Arc<[[u8; 32]]>);

/// A hash that is not 64 hexadecimal digits; `index` is its place in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "hash {index} is not a SHA-256 hash in hex (64 of 0-9, a-f); make one with `printf %s TOKEN | sha256sum`"
)]
pub struct BadTokenHash {
    pub index: usize,
}

impl TokenHashes {
    /// Reads hex hashes (upper or lower case, surrounding whitespace ignored). The error names
    /// which entry is wrong, never its value.
    pub fn parse<S: AsRef<str>>(hashes: &[S]) -> Result<TokenHashes, BadTokenHash> {
        hashes
            .iter()
            .enumerate()
            .map(|(index, h)| hex_hash(h.as_ref().trim()).ok_or(BadTokenHash { index }))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| TokenHashes(v.into()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` hashes to one of the accepted hashes. Every hash is compared, each in
    /// constant time, so the time taken says nothing about which hash or how much matched.
    pub fn accepts(&self, token: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(token).into();
        let matched = self
            .0
            .iter()
            .fold(Choice::from(0), |found, h| found | h.ct_eq(&digest));
        matched.into()
    }
}

impl std::fmt::Debug for TokenHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHashes({} hashes)", self.0.len())
    }
}

/// The SHA-256 of `token` in lower-case hex: what a configuration lists for it.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// Lets a request through only with `Authorization: Bearer <token>` whose hash is accepted;
/// otherwise answers 401 with `WWW-Authenticate: Bearer`.
#[derive(Clone, Debug)]
pub struct BearerAuth {
    tokens: TokenHashes,
    /// Names the listener in the challenge (`realm="modeshare admin"`).
    realm: &'static str,
}

impl BearerAuth {
    pub fn new(tokens: TokenHashes, realm: &'static str) -> BearerAuth {
        BearerAuth { tokens, realm }
    }

    fn presented<B>(request: &Request<B>) -> Option<&[u8]> {
        let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
        let (scheme, token) = value.split_at_checked(7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| token.trim_ascii())
            .filter(|t| !t.is_empty())
    }
}

impl<B> ValidateRequest<B> for BearerAuth {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        match Self::presented(request) {
            Some(token) if self.tokens.accepts(token) => Ok(()),
            presented => {
                let message = if presented.is_some() {
                    "the bearer token is not accepted here"
                } else {
                    "this listener needs `Authorization: Bearer <token>`"
                };
                let body = serde_json::json!({ "error": "unauthorized", "message": message });
                let challenge = format!("Bearer realm=\"{}\"", self.realm);
                let mut response = Response::new(Body::from(body.to_string()));
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
                Err(response)
            }
        }
    }
}

#[cfg(test)]
mod tests;
