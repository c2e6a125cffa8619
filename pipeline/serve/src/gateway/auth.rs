//! Who a request comes from: `Authorization: Bearer TOKEN`, or HTTP Basic with the token as the
//! password (what Schema Registry clients such as kcat send: `http://any:TOKEN@host/`).

use axum::http::{HeaderMap, header};

use super::error::ApiError;
use super::tokens::{Principal, Role, TokenStore};

/// The principal of a request's token; 401 without one or with one that is unknown or revoked.
pub fn authenticate(headers: &HeaderMap, tokens: &TokenStore) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized("a token is required: Authorization: Bearer TOKEN"));
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(credentials.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::unauthorized("Basic credentials are not base64 of USER:TOKEN"))?;
        decoded.split_once(':').map(|(_, t)| t.to_string()).unwrap_or(decoded)
    } else {
        return Err(ApiError::unauthorized(format!("unsupported authorization scheme {scheme:?}: use Bearer")));
    };
    tokens.verify(&token).ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))
}

/// The principal, if its token grants `role`; 403 otherwise.
pub fn require(principal: Principal, role: Role) -> Result<Principal, ApiError> {
    if role.granted_by(&principal.roles) {
        Ok(principal)
    } else {
        Err(ApiError::forbidden(format!("token {} lacks the {role} role", principal.token_id)))
    }
}

/// Standard base64 (padding optional); `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding of fewer than 6 bits.
    (bits < 6 && acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_basic_credentials() {
        assert_eq!(base64_decode("dXNlcjp0bF9hYmM=").as_deref(), Some(&b"user:tl_abc"[..]));
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert!(base64_decode("a*b").is_none());
    }
}
