//! The caller's address behind proxies. Only a proxy the config trusts may
//! say who its client was (`Forwarded`, else `X-Forwarded-For`); anyone else
//! is taken at their TCP address, so a caller cannot pick its own identity.

use std::net::IpAddr;

use axum::http::HeaderMap;
use hangar_config::proxies::{self, IpNet};

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From validated config entries.
    pub fn new(entries: &[String]) -> Self {
        Self(entries.iter().filter_map(|e| proxies::parse(e)).collect())
    }

    fn trusts(&self, address: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(address))
    }

    /// The client's address: walking back from `peer` through the hops the
    /// trusted proxies recorded, the first address that is not a trusted
    /// proxy. A hop that does not parse ends the walk at the proxy that
    /// recorded it.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(&peer) {
            return peer;
        }
        let hops = recorded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = hop else {
                return client;
            };
            client = *address;
            if !self.trusts(address) {
                return client;
            }
        }
        client
    }
}

/// The addresses proxies recorded, first hop first: RFC 7239 `Forwarded`
/// `for=` values when the header is present, else `X-Forwarded-For`. `None`
/// for a value that is no address (`unknown`, an obfuscated name, garbage).
fn recorded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| forwarded_address(value))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect()
}

/// A `for=` value: `192.0.2.60`, `"192.0.2.60:4711"`, `"[2001:db8::1]:4711"`.
fn forwarded_address(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let host = match value.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() && !host.contains(':') => host,
        _ => value,
    };
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_taken_at_their_address() {
        let proxies = TrustedProxies::new(&["10.0.0.0/8".into()]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            proxies.client_address(ip("192.0.2.9"), &spoofed),
            ip("192.0.2.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let proxies = TrustedProxies::new(&["10.0.0.0/8".into()]);
        // The client claimed 1.2.3.4; the ingress appended what it saw.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &chain),
            ip("198.51.100.7")
        );
        let split = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &split),
            ip("198.51.100.7")
        );
        // Only proxies: the first of them.
        let internal = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &internal),
            ip("10.0.0.9")
        );
        // Garbage ends the walk at the proxy that recorded it.
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, nonsense, 10.0.0.5")]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &garbage),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let proxies = TrustedProxies::new(&["10.0.0.1".into()]);
        let both = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8::17]:4711\";proto=https",
            ),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &both),
            ip("2001:db8::17")
        );
        let with_port = headers(&[("forwarded", "for=\"192.0.2.60:4711\";by=10.0.0.1")]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &with_port),
            ip("192.0.2.60")
        );
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &unknown),
            ip("10.0.0.1")
        );
    }
}
