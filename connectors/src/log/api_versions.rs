//! Which requests a Kafka broker offers: its answer to `ApiVersions` (version 0, which every broker
//! answers). librdkafka learns the same but does not tell, and it starts a transaction on a broker
//! that cannot end one (Tansu 0.6 has no `EndTxn`), failing only at the first commit; asking first
//! finds that at start. The encoding and decoding are pure ([`request`], [`parse_response`]);
//! [`ask`] sends one request over a plain TCP connection.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `ApiVersions`' request key.
const API_VERSIONS: i16 = 18;
/// The request keys a transactional producer needs: `InitProducerId`, `AddPartitionsToTxn`,
/// `EndTxn`.
pub const TRANSACTION_APIS: [i16; 3] = [22, 24, 26];
/// The longest answer taken (a broker lists some 80 requests in 6 bytes each).
const MAX_RESPONSE: usize = 1 << 16;

/// One request a broker offers, with the versions it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    /// The request key.
    pub key: i16,
    /// The lowest version taken.
    pub min: i16,
    /// The highest version taken.
    pub max: i16,
}

/// An `ApiVersions` v0 request, framed (size first).
pub fn request(correlation_id: i32, client_id: &str) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(i16::MAX as usize)];
    let mut body = Vec::with_capacity(10 + id.len());
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(id.len() as i16).to_be_bytes());
    body.extend_from_slice(id);
    let mut framed = Vec::with_capacity(4 + body.len());
    framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

/// The requests listed in an `ApiVersions` v0 response body (after its size), which must answer
/// `correlation_id` without an error.
pub fn parse_response(correlation_id: i32, body: &[u8]) -> Result<Vec<Offered>, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let part = body.get(at..at + n).ok_or_else(|| format!("the answer ends at byte {at}"))?;
        at += n;
        Ok(part)
    };
    let i16_at = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let i32_at = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let correlation = i32_at(take(4)?);
    if correlation != correlation_id {
        return Err(format!("the answer is to request {correlation}, not {correlation_id}"));
    }
    let error = i16_at(take(2)?);
    if error != 0 {
        return Err(format!("the broker answered error code {error}"));
    }
    let count = i32_at(take(4)?);
    let count = usize::try_from(count).map_err(|_| format!("a list of {count} requests"))?;
    if count > body.len() / 6 {
        return Err(format!("a list of {count} requests in {} bytes", body.len()));
    }
    (0..count)
        .map(|_| {
            let b = take(6)?;
            Ok(Offered { key: i16_at(&b[0..2]), min: i16_at(&b[2..4]), max: i16_at(&b[4..6]) })
        })
        .collect()
}

/// Asks the broker at `address` (`HOST:PORT`, optionally after `SCHEME://`) which requests it
/// offers, over a plain TCP connection (no TLS, no SASL), each step within `timeout`. Blocking.
pub fn ask(address: &str, client_id: &str, timeout: Duration) -> Result<Vec<Offered>, String> {
    let address = address.trim();
    let address = address.split_once("://").map_or(address, |(_, rest)| rest);
    let socket = address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(|e| format!("{address}: {e}"))?;
    let io = |e: std::io::Error| format!("{address}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let correlation_id = 0x7472_7573; // "trus"
    stream.write_all(&request(correlation_id, client_id)).map_err(io)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).map_err(io)?;
    let size = usize::try_from(i32::from_be_bytes(size)).map_err(|_| format!("{address}: a negative size"))?;
    if size > MAX_RESPONSE {
        return Err(format!("{address}: an answer of {size} bytes"));
    }
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body).map_err(io)?;
    parse_response(correlation_id, &body).map_err(|e| format!("{address}: {e}"))
}

/// The keys of `wanted` that `offered` lacks.
pub fn missing(offered: &[Offered], wanted: &[i16]) -> Vec<i16> {
    wanted.iter().copied().filter(|k| !offered.iter().any(|o| o.key == *k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(correlation: i32, error: i16, keys: &[(i16, i16, i16)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&correlation.to_be_bytes());
        b.extend_from_slice(&error.to_be_bytes());
        b.extend_from_slice(&(keys.len() as i32).to_be_bytes());
        for (k, min, max) in keys {
            for v in [k, min, max] {
                b.extend_from_slice(&v.to_be_bytes());
            }
        }
        b
    }

    #[test]
    fn a_request_is_framed_version_zero() {
        let r = request(7, "tl");
        assert_eq!(r, [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, b't', b'l']);
    }

    #[test]
    fn responses_list_the_offered_requests_or_say_what_is_wrong() {
        let ok = response(7, 0, &[(0, 0, 9), (26, 0, 3)]);
        let offered = parse_response(7, &ok).expect("parse");
        assert_eq!(offered, vec![Offered { key: 0, min: 0, max: 9 }, Offered { key: 26, min: 0, max: 3 }]);
        assert_eq!(missing(&offered, &TRANSACTION_APIS), vec![22, 24]);
        assert!(parse_response(8, &ok).expect_err("other id").contains("not 8"));
        assert!(parse_response(7, &response(7, 35, &[])).expect_err("error").contains("35"));
        assert!(parse_response(7, &ok[..ok.len() - 1]).expect_err("short").contains("ends"));
        let mut huge = response(7, 0, &[]);
        huge[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(parse_response(7, &huge).is_err());
    }
}
